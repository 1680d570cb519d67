using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using QuantSharp.Formats.Gguf;

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
    /// <param name="importance">Optional importance matrix (llama.cpp tensor name → per-input-column mean squared
    /// activation), required by llama.cpp for IQ1/IQ2/IQ3_XXS file types.</param>
    public static void Quantize(string input, string output, int fileType, int threads, IReadOnlyDictionary<string, float[]>? importance = null)
    {
        Native native = s_native.Value;
        QuantizeParams p = native.DefaultParams();
        p.NThread = threads;
        p.FileType = fileType;
        var pins = new List<GCHandle>();
        try
        {
            if (importance is not null)
            {
                // llama_model_imatrix_data[]: { const char* name; const float* data; size_t size }, ended by a null name.
                var entries = new nint[(importance.Count + 1) * 3];
                int i = 0;
                foreach ((string name, float[] values) in importance)
                {
                    GCHandle data = GCHandle.Alloc(values, GCHandleType.Pinned);
                    pins.Add(data);
                    entries[i++] = Marshal.StringToCoTaskMemUTF8(name);
                    entries[i++] = data.AddrOfPinnedObject();
                    entries[i++] = values.Length;
                }

                GCHandle table = GCHandle.Alloc(entries, GCHandleType.Pinned);
                pins.Add(table);
                p.Imatrix = table.AddrOfPinnedObject();
            }

            uint rc = native.Quantize(input, output, ref p);
            if (rc != 0)
            {
                throw new InvalidOperationException($"llama_model_quantize({input} → {output}, ftype {fileType}) returned {rc}");
            }
        }
        finally
        {
            if (p.Imatrix != 0)
            {
                nint[] entries = (nint[])pins[^1].Target!;
                for (int i = 0; i < entries.Length; i += 3)
                {
                    Marshal.FreeCoTaskMem(entries[i]);
                }
            }

            pins.ForEach(h => h.Free());
        }
    }

    /// <summary>ggml's own dequantizer of <paramref name="type"/> (<c>ggml_get_type_traits(type)->to_float</c> in
    /// libggml-base) applied to <paramref name="blocks"/>, giving <paramref name="count"/> floats.</summary>
    public static unsafe float[] Dequantize(GgmlType type, byte[] blocks, int count)
    {
        // struct ggml_type_traits { const char* type_name; int64 blck_size; int64 blck_size_interleave; size_t type_size;
        // bool is_quantized; ggml_to_float_t to_float; ggml_from_float_t from_float_ref; }: to_float at byte 40.
        nint traits = s_typeTraits.Value((int)type);
        long blockSize = *(long*)(traits + 8), typeSize = *(long*)(traits + 24);
        Assert.Equal(GgmlTypeInfo.BlockSize(type), blockSize);
        Assert.Equal(GgmlTypeInfo.TypeSize(type), typeSize);
        var toFloat = (delegate* unmanaged[Cdecl]<byte*, float*, long, void>)*(nint*)(traits + 40);
        Assert.True(toFloat != null, $"ggml has no to_float for {type}");
        var result = new float[count];
        fixed (byte* x = blocks)
        fixed (float* y = result)
        {
            toFloat(x, y, count);
        }

        return result;
    }

    /// <summary>ggml's own quantizer (<c>ggml_quantize_chunk</c> in libggml-base, what llama-quantize calls per tensor)
    /// of <paramref name="rows"/> × <paramref name="cols"/> floats, with an optional importance per column.</summary>
    public static unsafe byte[] QuantizeRows(GgmlType type, float[] values, int rows, int cols, float[]? importance = null)
    {
        var result = new byte[rows * GgmlTypeInfo.RowBytes(type, cols)];
        var quantize = (delegate* unmanaged[Cdecl]<int, float*, byte*, long, long, long, float*, nuint>)s_quantizeChunk.Value;
        fixed (float* x = values, imatrix = importance)
        fixed (byte* y = result)
        {
            nuint written = quantize((int)type, x, y, 0, rows, cols, imatrix);
            Assert.Equal((nuint)result.Length, written);
        }

        return result;
    }

    private static readonly Lazy<nint> s_quantizeChunk = new(() => NativeLibrary.GetExport(NativeLibrary.Load(Path.Combine(BinDir, "libggml-base.so")), "ggml_quantize_chunk"));

    private static readonly Lazy<Func<int, nint>> s_typeTraits = new(() =>
    {
        nint handle = NativeLibrary.Load(Path.Combine(BinDir, "libggml-base.so"));
        nint fn = NativeLibrary.GetExport(handle, "ggml_get_type_traits");
        return type =>
        {
            unsafe
            {
                return ((delegate* unmanaged[Cdecl]<int, nint>)fn)(type);
            }
        };
    });

    // llama_model_quantize_params (llama.h of the bundled llama.cpp): int32 nthread, enum llama_ftype ftype, two enum
    // ggml_type, six bools, then pointers from byte 24, the first the imatrix table. Only these three fields are set;
    // the rest keep llama_model_quantize_default_params' values. The struct is declared larger than the real one so a
    // by-value return (hidden pointer) has room to spare.
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct QuantizeParams
    {
        [FieldOffset(0)]
        public int NThread;
        [FieldOffset(4)]
        public int FileType;
        [FieldOffset(24)]
        public nint Imatrix;
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
