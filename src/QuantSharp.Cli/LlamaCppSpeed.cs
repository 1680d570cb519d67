using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace QuantSharp.Cli;

/// <summary>One llama.cpp timing run (<c>bench/llama-cpp/speed.mjs</c> or <see cref="LlamaBench"/>).</summary>
/// <param name="PrefillTokensPerSecond">Prompt tokens over the time to process them (node: to the first generated token).</param>
/// <param name="DecodeTokensPerSecond">Tokens decoded one at a time, per second.</param>
/// <param name="DecodeCpuCores">Process CPU time over wall time while decoding (node only; null from llama-bench).</param>
internal sealed record LlamaCppRun(double PrefillTokensPerSecond, double DecodeTokensPerSecond, double? DecodeCpuCores);

/// <summary>
/// A node process running llama.cpp (npm <c>node-llama-cpp</c>, its prebuilt CPU library) on one GGUF file with a fixed
/// thread count; the model is loaded and warmed up once, then every <see cref="Run"/> is one timed prefill + decode, so
/// the caller can alternate runs with QuantSharp's (A B A B).
/// </summary>
internal sealed class LlamaCppSpeed : ILlamaCppTimer
{
    private readonly Process _process;

    private LlamaCppSpeed(Process process) => _process = process;

    /// <summary>The node-llama-cpp install folder: <paramref name="given"/>, <c>$QUANTSHARP_LLAMACPP_DIR</c>, or the first
    /// <c>.tools/llama</c> above the current directory or the CLI's own folder (where <c>.ci/install-llama-cpp</c> puts it).</summary>
    /// <exception cref="UsageException">None found.</exception>
    public static string FindInstallDir(string? given)
    {
        string? env = Environment.GetEnvironmentVariable("QUANTSHARP_LLAMACPP_DIR");
        foreach (string? candidate in new[] { given, env })
        {
            if (!string.IsNullOrEmpty(candidate))
            {
                return IsInstall(candidate) ? Path.GetFullPath(candidate) : throw new UsageException($"{candidate}: no node-llama-cpp install (expected node_modules/node-llama-cpp; run .ci/install-llama-cpp)");
            }
        }

        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                string dir = Path.Combine(d.FullName, ".tools", "llama");
                if (IsInstall(dir))
                {
                    return dir;
                }
            }
        }

        throw new UsageException("--vs-llama-cpp: node-llama-cpp is not installed (run .ci/install-llama-cpp, or pass --llama-cpp-dir / set QUANTSHARP_LLAMACPP_DIR)");
    }

    private static bool IsInstall(string dir) => File.Exists(Path.Combine(dir, "node_modules", "node-llama-cpp", "package.json"));

    /// <summary>Writes the embedded driver script into <paramref name="directory"/> and returns its path.</summary>
    public static string WriteScript(string directory)
    {
        string path = Path.Combine(directory, "llama-cpp-speed.mjs");
        using Stream source = typeof(LlamaCppSpeed).Assembly.GetManifestResourceStream("llama-cpp-speed.mjs")
            ?? throw new InvalidOperationException("embedded resource llama-cpp-speed.mjs is missing");
        using FileStream target = File.Create(path);
        source.CopyTo(target);
        return path;
    }

    /// <summary>Starts node on <paramref name="gguf"/> and waits until the model is loaded and warmed up.</summary>
    /// <exception cref="QuantSharpException">node is missing, or llama.cpp failed to load the file.</exception>
    public static LlamaCppSpeed Start(string script, string installDir, string gguf, int threads, int promptTokens, int decodeTokens, int vocab)
    {
        var info = new ProcessStartInfo("node")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { script, installDir, gguf, threads.ToString(CultureInfo.InvariantCulture), promptTokens.ToString(CultureInfo.InvariantCulture), decodeTokens.ToString(CultureInfo.InvariantCulture), vocab.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new QuantSharpException("could not start node");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new QuantSharpException($"--vs-llama-cpp needs node on PATH: {e.Message}");
        }

        process.ErrorDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data))
            {
                Console.Error.WriteLine($"llama.cpp: {e.Data}");
            }
        };
        process.BeginErrorReadLine();
        var runner = new LlamaCppSpeed(process);
        string? ready = process.StandardOutput.ReadLine();
        if (ready is null || !ready.Contains("\"ready\"", StringComparison.Ordinal))
        {
            runner.Dispose();
            throw new QuantSharpException($"{gguf}: llama.cpp (node-llama-cpp) did not load the file (see its messages above)");
        }

        return runner;
    }

    /// <summary>One timed run.</summary>
    public LlamaCppRun Run()
    {
        _process.StandardInput.WriteLine("run");
        _process.StandardInput.Flush();
        string line = _process.StandardOutput.ReadLine() ?? throw new QuantSharpException("llama.cpp (node) exited during a run (see its messages above)");
        using JsonDocument doc = JsonDocument.Parse(line);
        JsonElement r = doc.RootElement;
        return new LlamaCppRun(r.GetProperty("prefillTokensPerSecond").GetDouble(), r.GetProperty("decodeTokensPerSecond").GetDouble(), r.GetProperty("decodeCpuCores").GetDouble());
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("quit");
                _process.StandardInput.Flush();
                if (!_process.WaitForExit(10_000))
                {
                    _process.Kill();
                }
            }
        }
        catch (IOException)
        {
            // The process is gone already.
        }

        _process.Dispose();
    }
}
