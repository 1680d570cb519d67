using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace QuantSharp.Server;

/// <summary>One log line per request: method, path, status, prompt and completion tokens, milliseconds.</summary>
internal static class RequestLog
{
    public const string PromptTokensKey = "quantsharp.prompt_tokens";
    public const string CompletionTokensKey = "quantsharp.completion_tokens";

    public static async Task InvokeAsync(HttpContext context, RequestDelegate next, TextWriter? log)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            if (log is not null)
            {
                string tokens = context.Items.TryGetValue(PromptTokensKey, out object? p)
                    ? $" prompt={p} completion={(context.Items.TryGetValue(CompletionTokensKey, out object? c) ? c : 0)}" : "";
                string status = context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? "aborted" : context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
                lock (log)
                {
                    log.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {context.Request.Method} {context.Request.Path} {status}{tokens} {Stopwatch.GetElapsedTime(start).TotalMilliseconds:F0}ms");
                }
            }
        }
    }
}
