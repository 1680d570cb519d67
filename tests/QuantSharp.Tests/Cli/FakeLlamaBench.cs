using System.Globalization;

namespace QuantSharp.Tests.Cli;

/// <summary>
/// A stand-in for llama.cpp's <c>llama-bench</c>: a shell script that checks it was called as
/// <c>-m FILE -p P -n G -t T -r 1 -o json -ngl 0</c> (exit 5 and a message on stderr otherwise), that FILE exists and
/// starts with the GGUF magic (exit 4), appends its arguments to <see cref="Log"/>, and prints what
/// <see cref="Output"/> says: llama-bench's <c>-o json</c> array (a pp row and a tg row) by default.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class FakeLlamaBench
{
    public FakeLlamaBench(string directory, int prompt, int gen, int threads)
    {
        Path = System.IO.Path.Combine(directory, "llama-bench");
        Log = System.IO.Path.Combine(directory, "llama-bench.log");
        Prompt = prompt;
        Gen = gen;
        Threads = threads;
    }

    public string Path { get; }

    public string Log { get; }

    public int Prompt { get; }

    public int Gen { get; }

    public int Threads { get; }

    public double PrefillTs { get; init; } = 1234.5;

    public double DecodeTs { get; init; } = 56.25;

    /// <summary>The shell commands that produce stdout and the exit code; default: the JSON of both tests.</summary>
    public string? Output { get; init; }

    /// <summary>Calls logged so far, one line of arguments each.</summary>
    public string[] Calls => File.Exists(Log) ? File.ReadAllLines(Log) : [];

    /// <summary>One llama-bench JSON test object, the fields of llama-bench's printer (abridged).</summary>
    public static string Row(string model, int threads, int prompt, int gen, double ts)
    {
        var c = CultureInfo.InvariantCulture;
        double ns = ts > 0 ? (prompt + gen) / ts * 1e9 : 0;
        return "{\"build_commit\": \"0000000\", \"build_number\": 1, \"cpu_info\": \"fake\", \"gpu_info\": \"\", \"backends\": \"CPU\", "
            + $"\"model_filename\": \"{model}\", \"model_type\": \"llama ?B F16\", \"model_size\": 1024, \"model_n_params\": 512, "
            + $"\"n_batch\": 2048, \"n_ubatch\": 512, \"n_threads\": {threads}, \"cpu_mask\": \"0x0\", \"cpu_strict\": false, \"poll\": 50, "
            + "\"type_k\": \"f16\", \"type_v\": \"f16\", \"n_gpu_layers\": 0, \"split_mode\": \"layer\", \"main_gpu\": 0, \"no_kv_offload\": false, "
            + $"\"flash_attn\": false, \"use_mmap\": true, \"embeddings\": false, \"n_prompt\": {prompt}, \"n_gen\": {gen}, \"n_depth\": 0, "
            + $"\"test_time\": \"2025-01-01T00:00:00Z\", \"avg_ns\": {ns.ToString("F0", c)}, \"stddev_ns\": 0, "
            + $"\"avg_ts\": {ts.ToString("R", c)}, \"stddev_ts\": 0.000000, \"samples_ns\": [ {ns.ToString("F0", c)} ], \"samples_ts\": [ {ts.ToString("R", c)} ]}}";
    }

    public FakeLlamaBench Write()
    {
        string json = "[\n  " + Row("$model", Threads, Prompt, 0, PrefillTs) + ",\n  " + Row("$model", Threads, 0, Gen, DecodeTs) + "\n]";
        string script = $$"""
            #!/bin/sh
            echo "$*" >> '{{Log}}'
            [ "$1" = "-m" ] || { echo "error: expected -m first, got '$1'" >&2; exit 5; }
            model="$2"
            shift 2
            [ "$*" = "-p {{Prompt}} -n {{Gen}} -t {{Threads}} -r 1 -o json -ngl 0" ] || { echo "error: unexpected arguments: $*" >&2; exit 5; }
            [ -f "$model" ] && [ "$(head -c 4 "$model")" = "GGUF" ] || { echo "main: error: failed to load model '$model'" >&2; exit 4; }
            echo "llama_model_loader: loaded meta data" >&2
            {{Output ?? "cat <<EOF\n" + json + "\nEOF"}}
            """;
        File.WriteAllText(Path, script.Replace("\r\n", "\n", StringComparison.Ordinal));
        File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return this;
    }
}
