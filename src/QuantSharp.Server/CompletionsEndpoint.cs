using System.Text.Json;
using Microsoft.AspNetCore.Http;
using QuantSharp.Serving;

namespace QuantSharp.Server;

/// <summary><c>POST /v1/completions</c>: a raw prompt (a string, or an array of token ids) continued by the shared
/// engine. The prompt is encoded as the checkpoint's tokenizer asks (BOS where it adds one); special-token text in it
/// stays text.</summary>
internal static class CompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext context, ServedModel served)
    {
        using JsonDocument document = await RequestReader.ReadAsync(context);
        var body = new RequestBody(document.RootElement);
        GenerationEngine engine = served.RequireEngine();
        var tokenizer = served.RequireTokenizer();
        int[] prompt = Prompt(body, served);
        if (prompt.Length == 0)
        {
            throw ApiException.BadRequest("the prompt is empty (and this tokenizer adds no BOS)", "prompt");
        }

        (int? maxTokens, bool stream, bool includeUsage) = CommonFields.Read(body, chat: false);
        var sampling = CommonFields.Sampling(body, engine, tokenizer, prompt.Length, maxTokens, "prompt");
        context.Items[RequestLog.PromptTokensKey] = prompt.Length;
        var generation = new TextGeneration(engine, tokenizer, prompt, sampling, body.StopStrings("stop"));
        await CompletionResponder.RespondAsync(context, generation, served.Id, chat: false, stream, includeUsage);
    }

    private static int[] Prompt(RequestBody body, ServedModel served)
    {
        JsonElement? value = body.Element("prompt");
        if (value is not JsonElement p)
        {
            throw ApiException.BadRequest("'prompt' is required", "prompt");
        }

        if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() == 1 && p[0].ValueKind == JsonValueKind.String)
        {
            p = p[0];
        }

        if (p.ValueKind == JsonValueKind.String)
        {
            return served.RequireTokenizer().Encode(p.GetString()!, addSpecialTokens: true);
        }

        if (p.ValueKind == JsonValueKind.Array && p.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number))
        {
            int vocab = served.Loaded.Model.Config.VocabSize;
            return [.. p.EnumerateArray().Select(e => e.TryGetInt32(out int id) && (uint)id < (uint)vocab ? id
                : throw ApiException.BadRequest($"'prompt' holds {e.GetRawText()}, which is not a token id of this vocabulary (0..{vocab - 1})", "prompt"))];
        }

        throw ApiException.BadRequest("'prompt' must be a string, an array of one string, or an array of token ids (batches of prompts are not supported)", "prompt");
    }
}
