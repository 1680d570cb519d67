using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;
using QuantSharp.Models;
using QuantSharp.Server;
using QuantSharp.Serving;
using QuantSharp.Tests.Cli;
using QuantSharp.Tokenizers;

namespace QuantSharp.Tests.Server;

/// <summary>The OpenAI-compatible server driven by the official clients and by raw HTTP.</summary>
public class OpenAiServerTests
{
    private static OpenAIClientOptions Endpoint(ServerHarness h) => new() { Endpoint = h.V1 };

    /// <summary>What the model replies to <paramref name="user"/> greedily, computed in-process without the server.</summary>
    private static string InProcessReply(LoadedModel loaded, string user, int maxTokens)
    {
        Tokenizer tokenizer = loaded.RequireTokenizer();
        int[] prompt = ChatFormatter.For(tokenizer, ServerHarness.TemplateSource).Format([("user", user)]).Ids;
        var options = new SamplingOptions { MaxTokens = maxTokens, StopTokens = tokenizer.EosIds };
        int[] ids = [.. new Generator(loaded.Model).Generate(prompt, options).Where(id => !tokenizer.EosIds.Contains(id) && !loaded.Model.Config.EosTokenIds.Contains(id))];
        return tokenizer.Decode(ids);
    }

    [Fact]
    public async Task OfficialOpenAIClient_ChatAndStreamingEqualInProcessGreedy()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        string expected = InProcessReply(h.Loaded, "The jury said", 24);
        var client = new ChatClient(h.Server.ModelId, new ApiKeyCredential("unused"), Endpoint(h));
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 24 };

        ChatCompletion completion = (await client.CompleteChatAsync([new UserChatMessage("The jury said")], options)).Value;
        Assert.Equal(expected, completion.Content[0].Text);
        Assert.Equal(24, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 3);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, completion.FinishReason);

        var streamed = new StringBuilder();
        OpenAI.Chat.ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (StreamingChatCompletionUpdate update in client.CompleteChatStreamingAsync([new UserChatMessage("The jury said")], options))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal(expected, streamed.ToString());
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, finish);
        Assert.Equal(24, usage?.OutputTokenCount);
    }

    [Fact]
    public async Task MicrosoftExtensionsAIOverHttp_ChatStreamingAndEmbeddings()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        string expected = InProcessReply(h.Loaded, "It was a", 16);
        IChatClient chat = new ChatClient(h.Server.ModelId, new ApiKeyCredential("unused"), Endpoint(h)).AsIChatClient();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16 };
        ChatResponse response = await chat.GetResponseAsync("It was a", options);
        Assert.Equal(expected, response.Text);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, response.FinishReason);

        var streamed = new StringBuilder();
        await foreach (ChatResponseUpdate update in chat.GetStreamingResponseAsync("It was a", options))
        {
            streamed.Append(update.Text);
        }

        Assert.Equal(expected, streamed.ToString());

        IEmbeddingGenerator<string, Embedding<float>> remote = new EmbeddingClient(h.Server.ModelId, new ApiKeyCredential("unused"), Endpoint(h)).AsIEmbeddingGenerator();
        GeneratedEmbeddings<Embedding<float>> overHttp = await remote.GenerateAsync(["The jury said", "It was a bright day"]);
        using var local = new QuantSharpEmbeddingGenerator(h.Loaded);
        GeneratedEmbeddings<Embedding<float>> inProcess = await local.GenerateAsync(["The jury said", "It was a bright day"]);
        Assert.Equal(2, overHttp.Count);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(inProcess[i].Vector.ToArray(), overHttp[i].Vector.ToArray());
        }
    }

    [Fact]
    public async Task InProcessClients_NoServer()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.BrownLlama);
        string expected = InProcessReply(loaded, "He", 12);
        using IChatClient chat = new QuantSharpChatClient(loaded, new GenerationEngineOptions { ContextLength = 256 }, ServerHarness.TemplateSource);
        ChatResponse response = await chat.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "He")], new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });
        Assert.Equal(expected, response.Text);
        Assert.Equal(12, response.Usage?.OutputTokenCount);
        Assert.Equal("brown-llama", chat.GetService<ChatClientMetadata>()?.DefaultModelId);

        var streamed = new StringBuilder();
        Microsoft.Extensions.AI.ChatFinishReason? finish = null;
        await foreach (ChatResponseUpdate update in chat.GetStreamingResponseAsync("He", new ChatOptions { Temperature = 0, MaxOutputTokens = 12 }))
        {
            streamed.Append(update.Text);
            finish ??= update.FinishReason;
        }

        Assert.Equal(expected, streamed.ToString());
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, finish);

        // Stop sequences cut the reply before them.
        string stop = expected.Substring(expected.Length / 2, 3);
        ChatResponse cut = await chat.GetResponseAsync("He", new ChatOptions { Temperature = 0, MaxOutputTokens = 12, StopSequences = [stop] });
        Assert.Equal(expected[..expected.IndexOf(stop, StringComparison.Ordinal)], cut.Text);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Stop, cut.FinishReason);
    }

    [Fact]
    public async Task CompletionsGreedyEqualsGenerateVerb_AndConcurrentRequestsEqualSequential()
    {
        string[] prompts = ["The jury said", "In the morning", "It was a", "The city of", "She looked at", "He"];
        var expected = new string[prompts.Length];
        for (int i = 0; i < prompts.Length; i++)
        {
            (int code, string stdout, string stderr) = CliRunner.Run("generate", TestPaths.BrownLlama, "--prompt", prompts[i], "--max-tokens", "20", "--temperature", "0", "--json");
            Assert.True(code == 0, stderr);
            expected[i] = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement.GetProperty("text").GetString()!;
        }

        await using ServerHarness h = await ServerHarness.StartAsync(new ServerOptions { Parallel = 4 });
        Task<(int Status, JsonElement Body, HttpResponseMessage Response)>[] requests = [.. prompts.Select(p =>
            h.PostAsync("/v1/completions", JsonSerializer.Serialize(new { prompt = p, max_tokens = 20, temperature = 0 })))];
        var results = await Task.WhenAll(requests);
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(200, results[i].Status);
            JsonElement choice = results[i].Body.GetProperty("choices")[0];
            Assert.Equal(expected[i], choice.GetProperty("text").GetString());
            Assert.Equal("text_completion", results[i].Body.GetProperty("object").GetString());
        }
    }

    [Fact]
    public async Task BadRequestsGetOpenAIErrors()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(new ServerOptions { ContextLength = 64, MaxBodyBytes = 32 << 10 });
        async Task Expect(int status, string path, string json, string? param, string? code = null)
        {
            (int s, JsonElement body, _) = await h.PostAsync(path, json);
            Assert.True(status == s, $"{json}: {s} {body}");
            JsonElement error = body.GetProperty("error");
            Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
            Assert.Equal(param, error.GetProperty("param").GetString());
            if (code is not null)
            {
                Assert.Equal(code, error.GetProperty("code").GetString());
            }
        }

        const string Chat = "/v1/chat/completions";
        await Expect(400, Chat, "{\"messages\": [", null);
        await Expect(400, Chat, "[1, 2]", null);
        await Expect(400, Chat, "{}", "messages");
        await Expect(400, Chat, "{\"messages\": \"hi\"}", "messages");
        await Expect(400, Chat, "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", "messages[0].role");
        await Expect(400, Chat, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content");
        await Expect(400, Chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": \"many\"}", "max_tokens");
        await Expect(400, Chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": 7}", "temperature");
        await Expect(400, Chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stream\": \"yes\"}", "stream");
        await Expect(400, Chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stop\": [1]}", "stop");
        await Expect(400, Chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"n\": 3}", "n");
        await Expect(400, Chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 100000000}", "max_tokens", "context_length_exceeded");
        string longText = string.Join(' ', Enumerable.Repeat("the jury said", 200));
        await Expect(400, Chat, JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = longText } } }), "messages", "context_length_exceeded");
        await Expect(400, "/v1/completions", "{\"prompt\": [1, 99999]}", "prompt");
        await Expect(400, "/v1/completions", "{\"prompt\": {\"a\": 1}}", "prompt");
        await Expect(400, "/v1/embeddings", "{\"input\": 3}", "input");
        await Expect(400, "/v1/embeddings", "{\"input\": \"x\", \"encoding_format\": \"hex\"}", "encoding_format");
        await Expect(413, Chat, JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = new string('a', 64 << 10) } } }), null);
        await Expect(404, "/v1/nothing", "{}", null);

        using var wrongType = new StringContent("hello", Encoding.UTF8, "text/plain");
        HttpResponseMessage response = await h.Http.PostAsync(Chat, wrongType);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);

        // Special-token text in a prompt stays text: "</s>" is not the end-of-sequence id.
        (int status, JsonElement body, _) = await h.PostAsync("/v1/completions", "{\"prompt\": \"</s>\", \"max_tokens\": 1, \"temperature\": 0}");
        Assert.Equal(200, status);
        int promptTokens = body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        Assert.Equal(1 + h.Loaded.RequireTokenizer().Encode("</s>").Length, promptTokens);
        Assert.True(promptTokens > 2);
    }

    [Fact]
    public async Task ApiKeyIsRequiredOnV1()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(new ServerOptions { ApiKey = "s3cret" });
        const string Body = "{\"prompt\": \"The\", \"max_tokens\": 2}";
        (int status, JsonElement body, _) = await h.PostAsync("/v1/completions", Body);
        Assert.Equal(401, status);
        Assert.Equal("invalid_api_key", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(401, (await h.PostAsync("/v1/completions", Body, apiKey: "wrong")).Status);
        Assert.Equal(200, (await h.PostAsync("/v1/completions", Body, apiKey: "s3cret")).Status);
        Assert.Equal(HttpStatusCode.OK, (await h.Http.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await h.Http.GetAsync("/v1/models")).StatusCode);

        var client = new ChatClient(h.Server.ModelId, new ApiKeyCredential("s3cret"), Endpoint(h));
        ChatCompletion completion = (await client.CompleteChatAsync([new UserChatMessage("Hi")], new ChatCompletionOptions { MaxOutputTokenCount = 3 })).Value;
        Assert.Equal(3, completion.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task FullQueueAnswers429_AndADisconnectedStreamFreesItsSlot()
    {
        await using ServerHarness h = await ServerHarness.StartAsync(new ServerOptions { Parallel = 1, QueueCapacity = 0 });
        GenerationEngine engine = h.Server.Engine!;
        HttpResponseMessage? streaming = null;
        using var cancel = new CancellationTokenSource();
        for (int attempt = 0; ; attempt++)
        {
            // A 230-token stream occupies the only slot (about 0.2 s on brown-llama; retried if it ended before the probe).
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                Content = new StringContent("{\"prompt\": \"The jury\", \"max_tokens\": 230, \"ignore_eos\": true, \"stream\": true}", Encoding.UTF8, "application/json"),
            };
            streaming = await h.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            Assert.Equal(HttpStatusCode.OK, streaming.StatusCode);
            Assert.Equal("text/event-stream", streaming.Content.Headers.ContentType?.MediaType);
            var reader = new StreamReader(await streaming.Content.ReadAsStreamAsync(cancel.Token));
            string? firstEvent = await reader.ReadLineAsync(cancel.Token);
            Assert.StartsWith("data: {", firstEvent);
            Assert.Contains("\"object\":\"text_completion\"", firstEvent); // streamed legacy completions keep their object name

            (int status, JsonElement body, HttpResponseMessage busy) = await h.PostAsync("/v1/completions", "{\"prompt\": \"The\", \"max_tokens\": 2}");
            if (status == 200 && engine.Pending == 0 && attempt < 5)
            {
                streaming.Dispose();
                continue;
            }

            Assert.Equal(429, status);
            Assert.Equal("rate_limit_error", body.GetProperty("error").GetProperty("type").GetString());
            Assert.True(busy.Headers.RetryAfter is not null);
            break;
        }

        // The client goes away mid-stream: its sequence is cancelled and the slot serves the next request.
        await cancel.CancelAsync();
        streaming.Dispose();
        for (int i = 0; i < 100 && engine.Pending > 0; i++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(0, engine.Pending);
        Assert.Equal(200, (await h.PostAsync("/v1/completions", "{\"prompt\": \"The\", \"max_tokens\": 2}")).Status);
    }

    [Fact]
    public async Task EncoderServesEmbeddingsOnly()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Model("all-MiniLM-L6-v2"));
        await using ServerHarness h = await ServerHarness.StartAsync(loaded, new ServerOptions());
        var client = new EmbeddingClient(h.Server.ModelId, new ApiKeyCredential("unused"), Endpoint(h));
        OpenAIEmbedding embedding = (await client.GenerateEmbeddingAsync("A man is playing a guitar.")).Value;
        using var encoder = SentenceEncoder.Create(loaded);
        float[] expected = encoder.Embed(["A man is playing a guitar."])[0];
        Assert.Equal(expected, embedding.ToFloats().ToArray());

        (int status, JsonElement body, _) = await h.PostAsync("/v1/embeddings", "{\"input\": [\"a\", \"b\"], \"encoding_format\": \"float\"}");
        Assert.Equal(200, status);
        Assert.Equal(384, body.GetProperty("data")[1].GetProperty("embedding").GetArrayLength());
        (status, body, _) = await h.PostAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
        Assert.Equal(400, status);
        Assert.Contains("encoder", body.GetProperty("error").GetProperty("message").GetString());
    }
}
