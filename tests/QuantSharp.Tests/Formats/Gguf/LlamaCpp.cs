using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace QuantSharp.Tests.Formats.Gguf;

/// <summary>
/// Real llama.cpp, from the npm package node-llama-cpp (pinned 3.22.1, CPU build) that <c>.ci/install-llama-cpp</c> puts
/// in <c>.tools/llama/</c> (or <c>$QUANTSHARP_LLAMACPP_DIR</c>): perplexity through its Node API
/// (<c>tools/llama-cpp/perplexity.mjs</c>) and <c>llama_model_quantize</c> from its <c>libllama</c>.
/// </summary>
internal static class LlamaCpp
{
    public const string Version = "3.22.1";

    private static readonly Lazy<string?> s_unavailable = new(FindProblem);

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string InstallDir => Environment.GetEnvironmentVariable("QUANTSHARP_LLAMACPP_DIR") is { Length: > 0 } d ? d : Path.Combine(RepoRoot, ".tools", "llama");

    public static string BinDir => Path.Combine(InstallDir, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64");

    /// <summary>Why llama.cpp cannot be used here, or null when it can.</summary>
    public static string? Unavailable => s_unavailable.Value;

    /// <summary>True when CI demands the cross-check (<c>QUANTSHARP_LLAMA_CPP=required</c>): a missing install fails instead of skipping.</summary>
    public static bool Required => Environment.GetEnvironmentVariable("QUANTSHARP_LLAMA_CPP") == "required";

    /// <summary>Skips the calling test (or fails it when <see cref="Required"/>) when llama.cpp is unavailable.</summary>
    public static void SkipUnlessAvailable()
    {
        string? problem = Unavailable;
        if (problem is not null && Required)
        {
            Assert.Fail($"QUANTSHARP_LLAMA_CPP=required but llama.cpp is unavailable: {problem}");
        }

        Skip.If(problem is not null, $"llama.cpp cross-check skipped: {problem}. Run .ci/install-llama-cpp (needs node and npm) to enable it.");
    }

    /// <summary>One model's result from <c>perplexity.mjs</c>.</summary>
    public sealed record Result(string Model, double Ppl, double MeanNll, int Scored, double? DecodeTokensPerSecond);

    /// <summary>llama.cpp's perplexity of each model on <paramref name="windows"/> (each [BOS] + tokens, all positions scored).</summary>
    public static IReadOnlyList<Result> Perplexity(IReadOnlyList<int[]> windows, IReadOnlyList<string> models, int threads, int decodeTokens = 0)
    {
        string windowsFile = Path.Combine(Path.GetTempPath(), $"qs-windows-{Guid.NewGuid():N}.json");
        File.WriteAllText(windowsFile, JsonSerializer.Serialize(windows));
        try
        {
            var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in new[] { Path.Combine(RepoRoot, "tools", "llama-cpp", "perplexity.mjs"), InstallDir, threads.ToString(), windowsFile })
            {
                psi.ArgumentList.Add(a);
            }

            foreach (string m in models)
            {
                psi.ArgumentList.Add(m);
            }

            if (decodeTokens > 0)
            {
                psi.ArgumentList.Add("--decode");
                psi.ArgumentList.Add(decodeTokens.ToString());
            }

            using Process p = Process.Start(psi)!;
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(300_000))
            {
                p.Kill(true);
                throw new TimeoutException("node perplexity.mjs ran longer than 5 minutes");
            }

            if (p.ExitCode != 0)
            {
                throw new InvalidOperationException($"node perplexity.mjs exited with {p.ExitCode}: {stderr.Result}");
            }

            return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('{')).Select(l =>
            {
                using JsonDocument d = JsonDocument.Parse(l);
                JsonElement r = d.RootElement;
                return new Result(r.GetProperty("model").GetString()!, r.GetProperty("ppl").GetDouble(), r.GetProperty("meanNll").GetDouble(),
                    r.GetProperty("scored").GetInt32(), r.TryGetProperty("decodeTokensPerSecond", out JsonElement t) ? t.GetDouble() : null);
            }).ToList();
        }
        finally
        {
            File.Delete(windowsFile);
        }
    }

    /// <summary>llama.cpp's <c>llama_model_quantize</c> (what the <c>llama-quantize</c> tool runs) with its default
    /// per-tensor choices for <paramref name="fileType"/> (a <c>llama_ftype</c>: 7 = Q8_0, 2 = Q4_0).</summary>
    public static void Quantize(string input, string output, int fileType, int threads)
    {
        Native native = s_native.Value;
        QuantizeParams p = native.DefaultParams();
        p.NThread = threads;
        p.FileType = fileType;
        uint rc = native.Quantize(input, output, ref p);
        if (rc != 0)
        {
            throw new InvalidOperationException($"llama_model_quantize({input} → {output}, ftype {fileType}) returned {rc}");
        }
    }

    // llama_model_quantize_params (llama.h of the bundled llama.cpp): int32 nthread, enum llama_ftype ftype, then types,
    // flags and pointers (64 bytes). Only the first two fields are set; the rest keep llama_model_quantize_default_params'
    // values. The struct is declared larger than the real one so a by-value return (hidden pointer) has room to spare.
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    private struct QuantizeParams
    {
        public int NThread;
        public int FileType;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void BackendInit();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate QuantizeParams DefaultParamsFn();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate uint QuantizeFn([MarshalAs(UnmanagedType.LPUTF8Str)] string input, [MarshalAs(UnmanagedType.LPUTF8Str)] string output, ref QuantizeParams p);

    private sealed record Native(DefaultParamsFn DefaultParams, QuantizeFn Quantize);

    private static readonly Lazy<Native> s_native = new(() =>
    {
        string lib = Directory.GetFiles(BinDir, "libllama.*so").Single();
        nint handle = NativeLibrary.Load(lib);
        T Fn<T>(string name) where T : Delegate => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(handle, name));
        Fn<BackendInit>("llama_backend_init")();
        return new Native(Fn<DefaultParamsFn>("llama_model_quantize_default_params"), Fn<QuantizeFn>("llama_model_quantize"));
    });

    private static string? FindProblem()
    {
        if (!File.Exists(Path.Combine(InstallDir, "node_modules", "node-llama-cpp", "dist", "index.js")))
        {
            return $"node-llama-cpp is not installed in {InstallDir}";
        }

        if (!Directory.Exists(BinDir) || Directory.GetFiles(BinDir, "libllama.*so").Length != 1)
        {
            return $"the CPU build @node-llama-cpp/linux-x64 is missing from {InstallDir}";
        }

        try
        {
            using Process p = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true })!;
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null : "node --version failed";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "node is not on PATH";
        }
    }

    private static string FindRepoRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "QuantSharp.slnx")))
            {
                return d.FullName;
            }
        }

        throw new DirectoryNotFoundException("repository root (QuantSharp.slnx) not found above the test binaries");
    }
}
