using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using QuantSharp.Serving;

namespace QuantSharp.Server;

/// <summary>
/// Runs a <see cref="TextGeneration"/> for <c>/v1/chat/completions</c> (<c>chat.completion</c>, deltas) or
/// <c>/v1/completions</c> (<c>text_completion</c>, text) and answers with one JSON object, or with server-sent events:
/// a chunk per piece of text, a last chunk carrying <c>finish_reason</c>, a usage chunk when
/// <c>stream_options.include_usage</c> asks for one, then <c>data: [DONE]</c>. The request's abort token cancels the
/// sequence, so a client that disconnects frees its slot at the next step.
/// </summary>
internal static class CompletionResponder
{
    public static async Task RespondAsync(HttpContext context, TextGeneration generation, string model, bool chat, bool stream, bool includeUsage)
    {
        string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string kind = chat ? "chat.completion" : "text_completion";
        CancellationToken aborted = context.RequestAborted;
        if (!stream)
        {
            var text = new StringBuilder();
            await foreach (string piece in generation.StreamAsync(aborted))
            {
                text.Append(piece);
            }

            context.Items[RequestLog.CompletionTokensKey] = generation.CompletionTokens;
            await JsonResponse.WriteAsync(context, 200, w =>
            {
                FirstChoice(w, id, kind, created, model);
                if (chat)
                {
                    w.WriteStartObject("message");
                    w.WriteString("role", "assistant");
                    w.WriteString("content", text.ToString());
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteString("text", text.ToString());
                    w.WriteNull("logprobs");
                }

                w.WriteString("finish_reason", Reason(generation.Finish));
                w.WriteEndObject();
                w.WriteEndArray();
                JsonResponse.WriteUsage(w, generation.PromptTokens, generation.CompletionTokens);
            });
            return;
        }

        // Submit before the headers go out, so a full queue is still a 429.
        IAsyncEnumerator<string> pieces = generation.StreamAsync(aborted).GetAsyncEnumerator(aborted);
        try
        {
            bool hasFirst = await pieces.MoveNextAsync();
            context.Response.StatusCode = 200;
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            kind = chat ? "chat.completion.chunk" : "text_completion"; // OpenAI's streamed legacy completions keep their object name
            if (chat)
            {
                await ChunkAsync(context, id, kind, created, model, chat, "", role: true, finish: null);
            }

            for (bool more = hasFirst; more; more = await NextOrErrorEventAsync(context, pieces))
            {
                if (pieces.Current.Length > 0)
                {
                    await ChunkAsync(context, id, kind, created, model, chat, pieces.Current, role: false, finish: null);
                }
            }

            if (context.Items.ContainsKey(StreamFailedKey))
            {
                return;
            }

            context.Items[RequestLog.CompletionTokensKey] = generation.CompletionTokens;
            await ChunkAsync(context, id, kind, created, model, chat, null, role: false, finish: Reason(generation.Finish));
            if (includeUsage)
            {
                await EventAsync(context, w =>
                {
                    Header(w, id, kind, created, model);
                    w.WriteStartArray("choices");
                    w.WriteEndArray();
                    JsonResponse.WriteUsage(w, generation.PromptTokens, generation.CompletionTokens);
                });
            }

            await context.Response.WriteAsync("data: [DONE]\n\n", aborted);
        }
        finally
        {
            await pieces.DisposeAsync();
        }
    }

    private const string StreamFailedKey = "quantsharp.stream_failed";

    /// <summary>The next piece; after the headers went out a failure can no longer change the status, so it becomes an
    /// <c>error</c> event (as llama.cpp's server sends one) and the stream ends without <c>[DONE]</c>.</summary>
    private static async Task<bool> NextOrErrorEventAsync(HttpContext context, IAsyncEnumerator<string> pieces)
    {
        try
        {
            return await pieces.MoveNextAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            context.Items[StreamFailedKey] = true;
            await EventAsync(context, w => JsonResponse.WriteError(w, e.Message, "server_error", null, null));
            return false;
        }
    }

    private static Task ChunkAsync(HttpContext context, string id, string kind, long created, string model, bool chat, string? text, bool role, string? finish)
        => EventAsync(context, w =>
        {
            FirstChoice(w, id, kind, created, model);
            if (chat)
            {
                w.WriteStartObject("delta");
                if (role)
                {
                    w.WriteString("role", "assistant");
                }

                if (text is not null)
                {
                    w.WriteString("content", text);
                }

                w.WriteEndObject();
            }
            else
            {
                w.WriteString("text", text ?? "");
                w.WriteNull("logprobs");
            }

            JsonResponse.WriteNullable(w, "finish_reason", finish);
            w.WriteEndObject();
            w.WriteEndArray();
        });

    private static async Task EventAsync(HttpContext context, Action<Utf8JsonWriter> body)
    {
        var buffer = new MemoryStream();
        await using (var writer = new Utf8JsonWriter(buffer, JsonResponse.Options))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        await context.Response.WriteAsync("data: ", context.RequestAborted);
        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted);
        await context.Response.WriteAsync("\n\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    private static void Header(Utf8JsonWriter w, string id, string kind, long created, string model)
    {
        w.WriteString("id", id);
        w.WriteString("object", kind);
        w.WriteNumber("created", created);
        w.WriteString("model", model);
    }

    /// <summary>The header, then the opened <c>choices</c> array and its only choice (index 0).</summary>
    private static void FirstChoice(Utf8JsonWriter w, string id, string kind, long created, string model)
    {
        Header(w, id, kind, created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
    }

    private static string Reason(GenerationFinish finish) => finish == GenerationFinish.Length ? "length" : "stop";
}
