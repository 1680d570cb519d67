using System.CommandLine;
using System.Text;
using System.Text.Json;
using QuantSharp.Kernels;

namespace QuantSharp.Cli;

/// <summary>Options shared by several verbs, and small helpers.</summary>
internal static class CliOptions
{
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Print stack traces on errors.", Recursive = true };

    public static Argument<string?> ModelArgument() => new("model")
    {
        Description = "Checkpoint folder (config.json + *.safetensors + tokenizer files), a quantized folder, or a .gguf file. Default: ../shared/models/brown-llama when found above, else the bundled samples/stories260K.",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public static Option<bool> Json() => new("--json") { Description = "Print one JSON object with the results on the last line of stdout." };

    public static Option<int> Threads() => new("--threads", "-t") { Description = "Threads for the kernels (default: one per core).", DefaultValueFactory = _ => Environment.ProcessorCount };

    /// <summary>--protocol for perplexity-style scoring: quantsharp (windows of [BOS] + ctx − 1 tokens) or llama.cpp.</summary>
    public static Option<string> Protocol() => new("--protocol") { Description = "quantsharp (windows of [BOS] + ctx − 1 text tokens) or llama.cpp (llama-perplexity's exact chunking: BOS in front, chunks of ctx tokens with BOS as first token, second half scored).", DefaultValueFactory = _ => "quantsharp" };

    /// <summary>Parses a --protocol value.</summary>
    public static Evaluation.PerplexityProtocol ParseProtocol(string? value) => value switch
    {
        "quantsharp" => Evaluation.PerplexityProtocol.QuantSharp,
        "llama.cpp" => Evaluation.PerplexityProtocol.LlamaCpp,
        _ => throw new UsageException($"--protocol {value}: use quantsharp or llama.cpp"),
    };

    /// <summary>Applies --threads.</summary>
    public static void ApplyThreads(int threads)
    {
        if (threads < 1 || threads > 256)
        {
            throw new UsageException($"--threads {threads} must be between 1 and 256");
        }

        WorkerPool.SetSharedThreads(threads);
    }

    /// <summary>The model path given; else the project's shared sample model ../shared/models/brown-llama when it is found
    /// above the working or program directory; else stories260K, which ships with the CLI (samples/stories260K).</summary>
    public static string ResolveModel(string? given)
    {
        if (!string.IsNullOrEmpty(given))
        {
            return given;
        }

        foreach (string relative in new[] { Path.Combine("shared", "models", "brown-llama"), Path.Combine("samples", "stories260K") })
        {
            foreach (string startDir in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            {
                for (DirectoryInfo? d = new(startDir); d is not null; d = d.Parent)
                {
                    string candidate = Path.Combine(d.FullName, relative);
                    if (Directory.Exists(candidate))
                    {
                        return candidate;
                    }
                }
            }
        }

        throw new UsageException("no model given and no sample model found (../shared/models/brown-llama, samples/stories260K); pass a checkpoint folder");
    }

    /// <summary>Writes a single-line JSON object built by <paramref name="write"/> to stdout.</summary>
    public static void WriteJson(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            write(json);
            json.WriteEndObject();
        }

        Console.Out.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>Human-readable byte count.</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes} B",
    };
}
