using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace QuantSharp.Cli;

/// <summary>
/// llama.cpp timed by its own <c>llama-bench</c> tool (a binary given by path, e.g. from a llama.cpp build or release):
/// every <see cref="Run"/> starts <c>llama-bench -m FILE -p P -n G -t T -r 1 -o json -ngl 0</c> and reads the two rows
/// of its JSON array: the prompt test (<c>n_prompt</c> = P, <c>n_gen</c> = 0) gives prefill tokens/s, the generation
/// test (<c>n_prompt</c> = 0, <c>n_gen</c> = G) decode tokens/s (<c>avg_ts</c> of the one repetition).
/// </summary>
/// <remarks>llama-bench loads the model and runs its own warm-up on each start; its load time is not timed. Its
/// generation test decodes from an empty context, where ours decodes after the prompt (P tokens of KV cache more:
/// negligible for short prompts). <c>-ngl 0</c> keeps every layer on the CPU in a GPU build. llama-bench does not
/// report CPU time, so <see cref="LlamaCppRun.DecodeCpuCores"/> is null.</remarks>
internal sealed class LlamaBench : ILlamaCppTimer
{
    private readonly string _binary;
    private readonly string _gguf;
    private readonly int _threads;
    private readonly int _prompt;
    private readonly int _gen;

    /// <summary>Times <paramref name="gguf"/> with <paramref name="binary"/> (see <see cref="Resolve"/>).</summary>
    public LlamaBench(string binary, string gguf, int threads, int promptTokens, int decodeTokens)
    {
        _binary = binary;
        _gguf = gguf;
        _threads = threads;
        _prompt = promptTokens;
        _gen = decodeTokens;
    }

    /// <summary>The full path of the llama-bench binary <paramref name="path"/>.</summary>
    /// <exception cref="UsageException">No such file.</exception>
    public static string Resolve(string path)
        => File.Exists(path) ? Path.GetFullPath(path) : throw new UsageException($"--llama-bench {path}: no such file (give the path of a llama-bench binary)");

    /// <summary>The arguments of one run, in order.</summary>
    public IReadOnlyList<string> Arguments =>
    [
        "-m", _gguf, "-p", Invariant(_prompt), "-n", Invariant(_gen), "-t", Invariant(_threads), "-r", "1", "-o", "json", "-ngl", "0",
    ];

    /// <inheritdoc />
    public LlamaCppRun Run()
    {
        var info = new ProcessStartInfo(_binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in Arguments)
        {
            info.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new QuantSharpException($"{_binary}: could not start llama-bench");
        }
        catch (Win32Exception e)
        {
            throw new QuantSharpException($"{_binary}: could not start llama-bench: {e.Message}");
        }

        using (process)
        {
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                string last = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
                throw new QuantSharpException($"{_binary}: llama-bench exited with code {process.ExitCode} on {_gguf}{(last.Length > 0 ? ": " + last : "")}");
            }

            return Parse(_binary, stdout, _prompt, _gen, _threads);
        }
    }

    /// <summary>Reads llama-bench's <c>-o json</c> output: an array of test objects.</summary>
    /// <exception cref="QuantSharpException">Not such an array, or the prompt or generation row is missing.</exception>
    internal static LlamaCppRun Parse(string binary, string json, int promptTokens, int decodeTokens, int threads)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new QuantSharpException($"{binary}: unparsable llama-bench output (expected the JSON array of -o json): {e.Message}");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw new QuantSharpException($"{binary}: unparsable llama-bench output: expected a JSON array of tests, got a {doc.RootElement.ValueKind}");
            }

            double prefill = TokensPerSecond(binary, doc.RootElement, promptTokens, 0, threads);
            double decode = TokensPerSecond(binary, doc.RootElement, 0, decodeTokens, threads);
            return new LlamaCppRun(prefill, decode, null);
        }
    }

    private static double TokensPerSecond(string binary, JsonElement tests, int prompt, int gen, int threads)
    {
        foreach (JsonElement test in tests.EnumerateArray())
        {
            if (test.ValueKind == JsonValueKind.Object && Number(test, "n_prompt") == prompt && Number(test, "n_gen") == gen)
            {
                if (Number(test, "n_threads") is double t && t != threads)
                {
                    throw new QuantSharpException($"{binary}: llama-bench ran the n_prompt={prompt}, n_gen={gen} test with {t} threads, not {threads}");
                }

                return Number(test, "avg_ts") is double ts && ts > 0
                    ? ts
                    : throw new QuantSharpException($"{binary}: llama-bench's n_prompt={prompt}, n_gen={gen} test has no positive avg_ts");
            }
        }

        throw new QuantSharpException($"{binary}: llama-bench's output has no test with n_prompt={prompt}, n_gen={gen}");
    }

    private static double? Number(JsonElement o, string name)
        => o.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public void Dispose()
    {
        // Nothing is held between runs: every run is its own llama-bench process.
    }
}
