using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QuantSharp.Models;
using QuantSharp.Serving;

namespace QuantSharp.Server;

/// <summary>
/// An OpenAI-compatible HTTP server (ASP.NET Core, Kestrel, minimal APIs) for one loaded model:
/// <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>, <c>POST /v1/embeddings</c>, <c>GET /v1/models</c>
/// and <c>GET /health</c>. Concurrent requests share the decode steps of one <see cref="GenerationEngine"/>.
/// Bad requests get OpenAI-style error objects (400, 401, 413, 415, 429 with Retry-After, 503 while shutting down).
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ServedModel _served;
    private volatile bool _stopping;

    private OpenAiServer(WebApplication app, ServedModel served)
    {
        _app = app;
        _served = served;
    }

    /// <summary>Builds the server for <paramref name="loaded"/> (owned by the caller; dispose the server first).</summary>
    /// <exception cref="QuantSharpException">The host is not an IP address, or the chat template does not parse.</exception>
    public static OpenAiServer Create(LoadedModel loaded, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        ArgumentNullException.ThrowIfNull(options);
        if (!IPAddress.TryParse(options.Host, out IPAddress? address))
        {
            throw new QuantSharpException($"--host '{options.Host}' is not an IP address (use 127.0.0.1 for this machine only, 0.0.0.0 for every interface)");
        }

        var served = new ServedModel(loaded, options);
        try
        {
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
            builder.Logging.ClearProviders();
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
                k.Listen(address, options.Port);
            });
            WebApplication app = builder.Build();
            var server = new OpenAiServer(app, served);
            app.Lifetime.ApplicationStopping.Register(() => server._stopping = true);
            app.Use((context, next) => RequestLog.InvokeAsync(context, next, options.Log));
            app.Use((context, next) => server.GuardAsync(context, next, options.ApiKey));
            app.MapGet("/health", context => JsonResponse.WriteAsync(context, 200, w => w.WriteString("status", "ok")));
            app.MapGet("/v1/models", server.ModelsAsync);
            app.MapPost("/v1/chat/completions", context => ChatCompletionsEndpoint.HandleAsync(context, served));
            app.MapPost("/v1/completions", context => CompletionsEndpoint.HandleAsync(context, served));
            app.MapPost("/v1/embeddings", context => EmbeddingsEndpoint.HandleAsync(context, served));
            app.MapFallback(context => JsonResponse.ErrorAsync(context, new ApiException(404, $"no endpoint {context.Request.Method} {context.Request.Path}")));
            return server;
        }
        catch
        {
            served.Dispose();
            throw;
        }
    }

    /// <summary>The address the server listens on (after <see cref="StartAsync"/>), e.g. <c>http://127.0.0.1:8080</c>.</summary>
    public Uri Address => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>The engine behind the generation endpoints (null for an encoder).</summary>
    internal GenerationEngine? Engine => _served.Engine;

    /// <summary>The id clients name the model by (its folder name).</summary>
    public string ModelId => _served.Id;

    /// <summary>Starts listening.</summary>
    public Task StartAsync(CancellationToken cancellation = default) => _app.StartAsync(cancellation);

    /// <summary>Runs until the process is asked to stop (Ctrl-C, SIGTERM): in-flight requests get
    /// <see cref="ServerOptions.ShutdownTimeout"/> to finish, new ones a 503.</summary>
    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    /// <summary>Stops listening, letting in-flight requests finish within the shutdown timeout.</summary>
    public Task StopAsync(CancellationToken cancellation = default) => _app.StopAsync(cancellation);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        await _app.DisposeAsync();
        _served.Dispose();
    }

    private async Task GuardAsync(HttpContext context, RequestDelegate next, string? apiKey)
    {
        try
        {
            if (_stopping)
            {
                throw new ApiException(503, "the server is shutting down", type: "server_error");
            }

            if (apiKey is not null && context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal)
                && !KeyMatches(context.Request.Headers.Authorization.ToString(), apiKey))
            {
                throw new ApiException(401, "missing or wrong API key: send 'Authorization: Bearer <key>'", code: "invalid_api_key");
            }

            await next(context);
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
        {
            ApiException error = e switch
            {
                ApiException api => api,
                EngineBusyException { ShuttingDown: true } stopping => new ApiException(503, stopping.Message, type: "server_error"),
                EngineBusyException busy => new ApiException(429, busy.Message, type: "rate_limit_error"),
                ContextOverflowException overflow => ApiException.BadRequest(overflow.Message, null, "context_length_exceeded"),
                QuantSharpException bad => ApiException.BadRequest(bad.Message),
                _ => new ApiException(500, $"internal error: {e.GetType().Name}: {e.Message}", type: "server_error"),
            };
            await JsonResponse.ErrorAsync(context, error);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its sequence was cancelled with the request.
        }
    }

    private static bool KeyMatches(string header, string key)
    {
        const string Bearer = "Bearer ";
        if (!header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        byte[] given = System.Text.Encoding.UTF8.GetBytes(header[Bearer.Length..].Trim());
        byte[] expected = System.Text.Encoding.UTF8.GetBytes(key);
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(given, expected);
    }

    private Task ModelsAsync(HttpContext context) => JsonResponse.WriteAsync(context, 200, w =>
    {
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        w.WriteStartObject();
        w.WriteString("id", _served.Id);
        w.WriteString("object", "model");
        w.WriteNumber("created", _served.Created.ToUnixTimeSeconds());
        w.WriteString("owned_by", "quantsharp");
        w.WriteEndObject();
        w.WriteEndArray();
    });
}
