using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace QuantSharp.Server;

/// <summary>Writes JSON bodies with a <see cref="Utf8JsonWriter"/> (no reflection), and OpenAI-style error objects.</summary>
internal static class JsonResponse
{
    /// <summary>Writer options for response bodies: characters JSON allows unescaped are written as they are (the
    /// default encoder escapes quotes and non-ASCII text for embedding in HTML, which API responses never are).</summary>
    public static readonly JsonWriterOptions Options = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes the whole body to a buffer first, so a failure while writing it (a NaN, say) leaves the response
    /// untouched and the caller can still answer with an error.</summary>
    public static async Task WriteAsync(HttpContext context, int status, Action<Utf8JsonWriter> body)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }

    public static Task ErrorAsync(HttpContext context, ApiException error)
    {
        if (error.Status == 429)
        {
            context.Response.Headers.RetryAfter = "1";
        }

        return WriteAsync(context, error.Status, w => WriteError(w, error.Message, error.Type, error.Param, error.Code));
    }

    public static void WriteError(Utf8JsonWriter w, string message, string type, string? param, string? code)
    {
        w.WriteStartObject("error");
        w.WriteString("message", message);
        w.WriteString("type", type);
        WriteNullable(w, "param", param);
        WriteNullable(w, "code", code);
        w.WriteEndObject();
    }

    public static void WriteUsage(Utf8JsonWriter w, int prompt, int completion)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", prompt);
        w.WriteNumber("completion_tokens", completion);
        w.WriteNumber("total_tokens", prompt + completion);
        w.WriteEndObject();
    }

    public static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
