using System.CommandLine;
using QuantSharp.Models;
using QuantSharp.Server;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp serve</c>: an OpenAI-compatible HTTP server for one model.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var host = new Option<string>("--host") { Description = "IP address to listen on: 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0 picks a free one and prints it).", DefaultValueFactory = _ => 8080 };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' on /v1/ requests (default: the QUANTSHARP_API_KEY environment variable, else none)." };
        var parallel = new Option<int>("--parallel", "-np") { Description = "Sequences decoded together, one KV cache each; every step streams the weights once for all of them.", DefaultValueFactory = _ => 4 };
        var context = new Option<int>("--ctx") { Description = "Context window per sequence in tokens (default: the model's, at most 4096).", DefaultValueFactory = _ => 0 };
        var queue = new Option<int>("--queue") { Description = "Requests that may wait for a free sequence; more are answered 429 with Retry-After.", DefaultValueFactory = _ => 64 };
        var template = new Option<string?>("--template") { Description = "A Jinja chat-template file to use instead of the checkpoint's." };
        var embeddingLayer = new Option<int>("--embedding-layer") { Description = "Decoders: the hidden state /v1/embeddings mean-pools (-1 = last, -2 = the one before, …). Encoders use their sentence-transformers pooling.", DefaultValueFactory = _ => -1 };
        var threads = CliOptions.Threads();
        var command = new Command("serve", "Serve a model over the OpenAI HTTP API: POST /v1/chat/completions (stream: true for server-sent events), /v1/completions,\n"
            + "/v1/embeddings; GET /v1/models and /health. Concurrent requests are decoded together in one batch. One log line per request on stderr;\n"
            + "Ctrl-C or SIGTERM lets running requests finish (up to 10 s).\n"
            + "Example: quantsharp serve path/to/qwen2.5-0.5b-instruct --port 8080 --parallel 8\n"
            + "         curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}'")
        {
            model, host, port, apiKey, parallel, context, queue, template, embeddingLayer, threads,
        };
        var quantize = new SchemeOptions("--quantize", required: false);
        quantize.AddTo(command);
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            string? templateFile = parse.GetValue(template);
            if (templateFile is not null && !File.Exists(templateFile))
            {
                throw new UsageException($"{templateFile}: no such template file");
            }

            if (parse.GetValue(parallel) < 1 || parse.GetValue(queue) < 0 || parse.GetValue(port) is < 0 or > 65535)
            {
                throw new UsageException("--parallel must be ≥ 1, --queue ≥ 0 and --port 0..65535");
            }

            var options = new ServerOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ApiKey = parse.GetValue(apiKey) ?? (Environment.GetEnvironmentVariable("QUANTSHARP_API_KEY") is { Length: > 0 } key ? key : null),
                Parallel = parse.GetValue(parallel),
                ContextLength = parse.GetValue(context),
                QueueCapacity = parse.GetValue(queue),
                ChatTemplate = templateFile is null ? null : File.ReadAllText(templateFile),
                EmbeddingLayer = parse.GetValue(embeddingLayer),
            };
            LoadOptions load = ModelOptions.LoadTimeQuantization(quantize, parse);
            return Run(CliOptions.ResolveModel(parse.GetValue(model)), load, options);
        });
        return command;
    }

    private static int Run(string path, LoadOptions load, ServerOptions options)
    {
        using LoadedModel loaded = ModelOptions.Load(path, load);
        OpenAiServer server = OpenAiServer.Create(loaded, options);
        try
        {
            server.StartAsync().GetAwaiter().GetResult();
            string kind = loaded.Model.Spec.IsEncoder ? "embeddings only" : $"{options.Parallel} parallel sequences";
            Console.Error.WriteLine($"serving {server.ModelId} ({kind}) on {server.Address}; Ctrl-C stops");
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        return ExitCodes.Ok;
    }
}
