using System.CommandLine;
using QuantSharp.Evaluation;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Quantization;
using QuantSharp.Kernels;
using QuantSharp.Models;
using Spectre.Console;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp bench</c>: decode and prefill speed per storage scheme and thread count, against the memory
/// bandwidth measured in the same run.</summary>
internal static class BenchCommand
{
    /// <summary>One row of the report.</summary>
    private sealed record Row(string Scheme, int Threads, SpeedResult Speed, BandwidthResult Bandwidth, double? ComputeWeightsPerSecond, long WeightsPerToken, LlamaRow? Llama = null)
    {
        /// <summary>Decode speed over the speed at which the measured bandwidth streams the weights once per token.</summary>
        public double RooflineFraction => Speed.DecodeGBps / Bandwidth.ReadGBps;

        /// <summary>Tokens per second the measured bandwidth allows (every weight byte read once per token).</summary>
        public double BandwidthRoof => Bandwidth.ReadGBps * 1e9 / Speed.StreamedBytesPerToken;

        /// <summary>Tokens per second the decode kernel's arithmetic allows on <see cref="Threads"/> cores (weights in L2).</summary>
        public double? ComputeRoof => ComputeWeightsPerSecond * Threads / WeightsPerToken;

        /// <summary>Which roof is lower.</summary>
        public string Bound => ComputeRoof < BandwidthRoof ? "compute" : "bandwidth";

        /// <summary>Decode speed over the lower roof.</summary>
        public double MinRoofFraction => Speed.DecodeTokensPerSecond / Math.Min(BandwidthRoof, ComputeRoof ?? double.PositiveInfinity);
    }

    /// <summary>llama.cpp's figures for the GGUF type paired with a scheme, from runs alternated with ours.</summary>
    private sealed record LlamaRow(string Type, long StreamedBytesPerToken, double Decode, double MedianDecode, double Prefill, double MedianPrefill, double? CpuCores)
    {
        public double DecodeGBps => StreamedBytesPerToken * Decode / 1e9;
    }

    /// <summary>The compute roof of <paramref name="scheme"/>: one thread's MatVec weights/s on a random L2-sized matrix of
    /// <paramref name="cols"/> inputs in that format; null for a stored format QuantSharp cannot make from floats.</summary>
    private static double? MeasureComputeRoof(string scheme, int cols)
    {
        string name = scheme.StartsWith("gguf-", StringComparison.Ordinal) ? scheme["gguf-".Length..] : scheme;
        Func<Tensors.TensorView, ILinearWeight> convert;
        try
        {
            convert = SchemeLinearProvider.Converter(name);
        }
        catch (QuantSharpException)
        {
            return null;
        }

        ILinearWeight Make(int rows)
        {
            var rng = new Random(rows);
            float[] values = new float[rows * cols];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = (float)((rng.NextDouble() * 2) - 1) * 0.05f;
            }

            return convert(Tensors.TensorView.FromFloats("roof", [rows, cols], values));
        }

        // Loading a converted model leaves garbage a background collection would sweep while the timer runs.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        int previous = WorkerPool.Shared.Threads;
        WorkerPool.SetSharedThreads(1);
        try
        {
            return ComputeRoof.WeightsPerSecond(Make(ComputeRoof.Rows(Make(16).BytesInMemory / 16)));
        }
        catch (QuantSharpException)
        {
            return null;
        }
        finally
        {
            WorkerPool.SetSharedThreads(previous);
        }
    }

    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var schemes = new Option<string?>("--schemes") { Description = "Comma-separated storage schemes: f32, f16, bf16, int8, int4, nf4, fp4, ternary or any canonical scheme name (int4-g32-sym, ternary-g128, nf4-dq…). Default: the checkpoint's dtype, int8, int4, nf4, ternary." };
        var threads = new Option<string>("--threads", "-t") { Description = "Comma-separated thread counts.", DefaultValueFactory = _ => "1,2" };
        var prompt = new Option<int>("--prompt") { Description = "Prompt tokens (prefill, one batch).", DefaultValueFactory = _ => 64 };
        var gen = new Option<int>("--gen") { Description = "Tokens decoded one at a time after the prompt.", DefaultValueFactory = _ => 32 };
        var repeat = new Option<int>("--repeat") { Description = "Timed repeats (after one warm-up); the best is reported, the median too in --json.", DefaultValueFactory = _ => 3 };
        var vsLlama = new Option<bool>("--vs-llama-cpp") { Description = "Also time llama.cpp (npm node-llama-cpp, prebuilt CPU build; install with .ci/install-llama-cpp) on the same weights exported to GGUF, alternating runs (ours, llama.cpp, ours, …): int8 ↔ q8_0, int4-g32-sym ↔ q4_0, int4 (g128) / nf4 ↔ q4_k, ternary ↔ tq2_0, iq2_xs/iq2_s/iq3_xxs/iq3_s ↔ the same IQ type, f16/bf16/f32 and the GGUF types ↔ themselves (QuantSharp then loads the exported file)." };
        var llamaDir = new Option<string?>("--llama-cpp-dir") { Description = "node-llama-cpp install folder (default: $QUANTSHARP_LLAMACPP_DIR or the nearest .tools/llama)." };
        var llamaBench = new Option<string?>("--llama-bench") { HelpName = "PATH", Description = "Time llama.cpp with this llama-bench binary instead of node-llama-cpp (implies --vs-llama-cpp): one `llama-bench -m FILE -p PROMPT -n GEN -t THREADS -r 1 -o json -ngl 0` per alternated run; its pp row gives prefill, its tg row decode tokens/s." };
        var batch = new Option<string?>("--batch") { Description = "Comma-separated numbers of sequences decoded together (e.g. 1,4,8): each scheme × thread count also times batched decode, one weight pass per step serving every sequence (the server's workload), and reports tokens/s per sequence and in all." };
        var probeMiB = new Option<int>("--probe-mib") { Description = "Size of the bandwidth probe's buffer in MiB (≫ L3).", DefaultValueFactory = _ => 512 };
        var json = CliOptions.Json();
        var command = new Command("bench", "Decode and prefill speed per scheme × thread count: tokens/s, GB/s of weights streamed per decoded token, the read\n"
            + "bandwidth measured by a built-in probe in the same run, the fraction of that roofline, the format's compute roof (one\n"
            + "core's decode kernel on L2-resident weights, times the threads) and which roof is lower, and bytes allocated per decoded\n"
            + "token (0 expected). Quantized schemes are made from the dense checkpoint at load time (round-to-nearest; GGUF types\n"
            + "q8_0, q4_0, q4_k, q6_k, tq2_0 with llama.cpp's reference quantizers). --vs-llama-cpp adds llama.cpp's speed on the same\n"
            + "weights exported to GGUF, runs alternated with ours, and the ratios (through node-llama-cpp, or --llama-bench PATH).\n"
            + "Example: quantsharp synth --like tinyllama-1.1b --out /tmp/tl && quantsharp bench /tmp/tl --schemes f16,int8,int4 --threads 1,2")
        {
            model, schemes, threads, prompt, gen, repeat, batch, probeMiB, vsLlama, llamaDir, llamaBench, json,
        };
        command.SetAction(parse =>
        {
            int[] threadCounts = ParseList(parse.GetValue(threads)!, "--threads").Select(t => int.TryParse(t, out int n) && n is >= 1 and <= 256
                ? n : throw new UsageException($"--threads: '{t}' is not a thread count between 1 and 256")).ToArray();
            var options = new SpeedOptions { PromptTokens = parse.GetValue(prompt), GenerateTokens = parse.GetValue(gen), Repeats = parse.GetValue(repeat) };
            if (options.PromptTokens < 1 || options.GenerateTokens < 1 || options.Repeats < 1)
            {
                throw new UsageException("--prompt, --gen and --repeat must be at least 1");
            }

            int mib = parse.GetValue(probeMiB);
            if (mib is < 64 or > 16384)
            {
                throw new UsageException($"--probe-mib {mib} must be between 64 and 16384");
            }

            string? schemeList = parse.GetValue(schemes);
            string? benchBinary = parse.GetValue(llamaBench);
            if (benchBinary is not null && parse.GetValue(llamaDir) is not null)
            {
                throw new UsageException("--llama-bench and --llama-cpp-dir are alternatives: give one");
            }

            LlamaCppChoice? llama = benchBinary is not null ? new LlamaCppChoice(null, LlamaBench.Resolve(benchBinary))
                : parse.GetValue(vsLlama) ? new LlamaCppChoice(LlamaCppSpeed.FindInstallDir(parse.GetValue(llamaDir)), null)
                : null;
            int[] batches = parse.GetValue(batch) is string b ? ParseList(b, "--batch").Select(n => int.TryParse(n, out int v) && v is >= 1 and <= 64
                ? v : throw new UsageException($"--batch: '{n}' is not a number of sequences between 1 and 64")).ToArray() : [];
            return Run(CliOptions.ResolveModel(parse.GetValue(model)), schemeList is null ? null : ParseList(schemeList, "--schemes"), threadCounts, options, mib, llama, parse.GetValue(json), batches);
        });
        return command;
    }

    /// <summary>How llama.cpp is timed: node-llama-cpp from <paramref name="NodeInstall"/>, or the llama-bench binary
    /// <paramref name="LlamaBenchPath"/>.</summary>
    private sealed record LlamaCppChoice(string? NodeInstall, string? LlamaBenchPath);

    private static bool IsDenseName(string scheme) => scheme.ToLowerInvariant() is "f32" or "f16" or "bf16";

    /// <summary>Exports the checkpoint's own (dense) weights to <paramref name="type"/> and returns the file and the bytes
    /// llama.cpp streams per decoded token (every matrix but the token embedding).</summary>
    private static (string Path, long StreamedBytes) Export(string path, string directory, GgmlType type)
    {
        string file = Path.Combine(directory, $"model-{GgmlTypeInfo.Name(type)}.gguf");
        Console.Error.WriteLine($"bench: exporting {path} to {GgmlTypeInfo.Name(type)} for llama.cpp…");
        using LoadedModel dense = ModelLoader.Load(path);
        GgufExportReport report = GgufExporter.Export(dense, file, new GgufExportOptions { Type = type });
        long streamed = report.Tensors.Where(x => x.Shape.Length == 2 && x.Name != GgufLlamaLayout.Embedding).Sum(x => x.Bytes);
        return (file, streamed);
    }

    /// <summary>Ours and llama.cpp's runs alternated: a warm-up of each, then Repeats × (one of ours, one of llama.cpp's).</summary>
    private static (SpeedResult Ours, LlamaRow Llama) Alternate(TransformerModel model, SpeedOptions options, Func<string, int, ILlamaCppTimer> startLlama, (string Path, long StreamedBytes) gguf, GgmlType type, int threads)
    {
        using ILlamaCppTimer llama = startLlama(gguf.Path, threads);
        var ours = new List<SpeedResult>();
        var theirs = new List<LlamaCppRun>();
        for (int r = 0; r < options.Repeats; r++)
        {
            ours.Add(SpeedBenchmark.Run(model, new SpeedOptions { PromptTokens = options.PromptTokens, GenerateTokens = options.GenerateTokens, Repeats = 1, WarmUp = r == 0 }));
            theirs.Add(llama.Run());
        }

        static double Median(IEnumerable<double> v) => v.Order().ElementAt(v.Count() / 2);
        var best = new SpeedResult(
            ours.Max(x => x.PrefillTokensPerSecond), ours.Max(x => x.DecodeTokensPerSecond), Median(ours.Select(x => x.PrefillTokensPerSecond)), Median(ours.Select(x => x.DecodeTokensPerSecond)),
            ours[0].StreamedBytesPerToken, ours.Average(x => x.AllocatedBytesPerToken), ours.Average(x => x.DecodeCpuUtilization));
        var row = new LlamaRow(GgmlTypeInfo.Name(type), gguf.StreamedBytes, theirs.Max(x => x.DecodeTokensPerSecond), Median(theirs.Select(x => x.DecodeTokensPerSecond)),
            theirs.Max(x => x.PrefillTokensPerSecond), Median(theirs.Select(x => x.PrefillTokensPerSecond)), theirs.Any(x => x.DecodeCpuCores is null) ? null : theirs.Average(x => x.DecodeCpuCores!.Value));
        return (best, row);
    }

    private static string[] ParseList(string text, string option)
    {
        string[] items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return items.Length > 0 ? items : throw new UsageException($"{option} '{text}' lists nothing");
    }

    /// <summary>The GGUF type llama.cpp runs for <paramref name="scheme"/>, or null when none is comparable.</summary>
    internal static GgmlType? LlamaCppType(string scheme)
    {
        if (GgmlTypeInfo.TryParse(scheme, out GgmlType t) && (GgufKernels.HasDirectKernel(t) || t is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
        {
            return t;
        }

        QuantSpec spec;
        try
        {
            spec = QuantSpec.ParseName(scheme);
        }
        catch (QuantSharpException)
        {
            return null;
        }

        return spec.GgufPeer;
    }

    private static int Run(string path, string[]? schemes, int[] threadCounts, SpeedOptions options, int probeMiB, LlamaCppChoice? llama, bool json, int[] batches)
    {
        var batched = new List<(string Scheme, int Threads, BatchedSpeedResult Speed)>();
        // A .gguf file or an already quantized checkpoint is timed as stored (its own scheme only): QuantSharp converts
        // dense safetensors checkpoints, not packed weights.
        string? stored = null;
        ModelConfig config;
        string first;
        using (LoadedModel probeLoad = ModelLoader.Load(path))
        {
            config = probeLoad.Model.Config;
            first = probeLoad.Model.BlockLinears().First().Weight.Scheme;
        }

        if (File.Exists(path) || !IsDenseName(first))
        {
            stored = first;
            if (schemes is not null && (schemes.Length != 1 || schemes[0] != stored))
            {
                throw new UsageException($"{path}: a GGUF file or quantized checkpoint is timed as stored ({stored}); leave out --schemes or give --schemes {stored}");
            }

            schemes = [stored];
        }
        else
        {
            schemes ??= [first, "int8", "int4", "nf4", "ternary"];
            foreach (string s in schemes)
            {
                _ = SchemeLinearProvider.Converter(s);
            }
        }

        // The probe runs first and its buffer is dropped before any model is loaded, so the two never compete for memory.
        var bandwidth = new Dictionary<int, BandwidthResult>();
        {
            Console.Error.WriteLine($"bandwidth probe: reading {probeMiB} MiB with {string.Join(", ", threadCounts)} thread(s)…");
            var probe = new BandwidthProbe((long)probeMiB << 20);
            foreach (int t in threadCounts.Distinct())
            {
                bandwidth[t] = probe.Measure(t);
                Console.Error.WriteLine($"bandwidth probe: {t} thread(s): {bandwidth[t].ReadGBps:F1} GB/s (median {bandwidth[t].MedianReadGBps:F1})");
            }
        }

        GC.Collect();
        var rows = new List<Row>();
        // The GGUF exports for llama.cpp (GBs at 7B) live in a temporary of this process: removed at the end, on Ctrl-C
        // or SIGTERM (Program's signal handlers), and by the next bench if this one is killed outright.
        string? work = null;
        if (llama is not null)
        {
            string scratch = Path.Combine(Path.GetTempPath(), "quantsharp-bench");
            OutputTemporaries.RemoveStale(scratch);
            work = OutputTemporaries.Claim(scratch);
            Directory.CreateDirectory(work);
        }

        try
        {
            Func<string, int, ILlamaCppTimer>? startLlama = null;
            if (llama?.LlamaBenchPath is string binary)
            {
                startLlama = (gguf, t) => new LlamaBench(binary, gguf, t, options.PromptTokens, options.GenerateTokens);
            }
            else if (llama?.NodeInstall is string install)
            {
                string script = LlamaCppSpeed.WriteScript(work!);
                startLlama = (gguf, t) => LlamaCppSpeed.Start(script, install, gguf, t, options.PromptTokens, options.GenerateTokens, config.VocabSize);
            }

            var exports = new Dictionary<GgmlType, (string Path, long StreamedBytes)>();
            foreach (string scheme in schemes)
            {
                GgmlType? llamaType = startLlama is null ? null : LlamaCppType(scheme);
                (string Path, long StreamedBytes) gguf = default;
                if (stored is not null && startLlama is not null)
                {
                    // A GGUF input: llama.cpp reads the very same file.
                    using GgufFile file = GgufFile.Open(path);
                    llamaType = GgmlTypeInfo.TryParse(stored.Replace("gguf-", "", StringComparison.Ordinal), out GgmlType storedType) ? storedType : null;
                    gguf = (path, file.TensorsInOrder.Where(t => t.Dimensions.Length == 2 && t.Name != GgufLlamaLayout.Embedding).Sum(t => t.ByteLength));
                }
                else if (llamaType is GgmlType lt && !exports.TryGetValue(lt, out gguf))
                {
                    gguf = exports[lt] = Export(path, work!, lt);
                }

                var progress = new StderrProgress($"bench {scheme}");
                progress.Report(0, 1, "preparing weights");
                // A GGUF type compared with llama.cpp runs from the very file llama.cpp reads.
                bool fromGguf = llamaType is not null && GgmlTypeInfo.TryParse(scheme, out _) && !IsDenseName(scheme);
                using LoadedModel loaded = fromGguf ? ModelLoader.Load(gguf.Path!)
                    : stored is not null ? ModelLoader.Load(path)
                    : ModelLoader.Load(path, new LoadOptions { LinearProvider = (c, s) => new SchemeLinearProvider(c, s, scheme) });
                progress.Report(1, 1, "weights ready");
                double? computeWps = MeasureComputeRoof(scheme, config.HiddenSize);
                long weightsPerToken = SpeedBenchmark.WeightsPerToken(loaded.Model);
                foreach (int t in threadCounts)
                {
                    WorkerPool.SetSharedThreads(t);
                    SpeedResult speed;
                    LlamaRow? theirs = null;
                    if (llamaType is GgmlType type)
                    {
                        (speed, theirs) = Alternate(loaded.Model, options, startLlama!, gguf, type, t);
                    }
                    else
                    {
                        speed = SpeedBenchmark.Run(loaded.Model, options);
                    }

                    var row = new Row(scheme, t, speed, bandwidth[t], computeWps, weightsPerToken, theirs);
                    rows.Add(row);
                    Console.Error.WriteLine($"bench {scheme} ×{t}: decode {speed.DecodeTokensPerSecond:F2} tok/s ({speed.DecodeGBps:F1} GB/s, {row.RooflineFraction:P0} of {bandwidth[t].ReadGBps:F1}), "
                        + $"prefill {speed.PrefillTokensPerSecond:F1} tok/s, {speed.AllocatedBytesPerToken:F0} B allocated/token, {speed.DecodeCpuUtilization:F2} cores busy"
                        + (row.ComputeRoof is double roof ? $", compute roof {roof:F1} tok/s ({row.Bound}-bound, {row.MinRoofFraction:P0} of the lower roof)" : "")
                        + (theirs is null ? "" : $"; llama.cpp {theirs.Type}: decode {theirs.Decode:F2} tok/s, prefill {theirs.Prefill:F1} tok/s" + (theirs.CpuCores is double c ? $", {c:F2} cores" : "")));
                    foreach (int b in batches)
                    {
                        BatchedSpeedResult bs = SpeedBenchmark.RunBatched(loaded.Model, options, b);
                        batched.Add((scheme, t, bs));
                        Console.Error.WriteLine($"bench {scheme} ×{t}, {b} sequences: {bs.PerSequenceTokensPerSecond:F2} tok/s each, {bs.AggregateTokensPerSecond:F2} in all");
                    }
                }
            }
        }
        finally
        {
            if (work is not null)
            {
                OutputTemporaries.Delete(work);
            }
        }

        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("model", path);
                w.WriteString("architecture", config.Architecture);
                w.WriteNumber("prompt_tokens", options.PromptTokens);
                w.WriteNumber("generated_tokens", options.GenerateTokens);
                w.WriteNumber("repeats", options.Repeats);
                if (llama is not null)
                {
                    w.WriteString("llama_cpp_via", llama.LlamaBenchPath ?? "node-llama-cpp");
                }

                w.WriteStartArray("bandwidth");
                foreach (BandwidthResult b in bandwidth.Values)
                {
                    w.WriteStartObject();
                    w.WriteNumber("threads", b.Threads);
                    w.WriteNumber("read_gb_per_second", Math.Round(b.ReadGBps, 2));
                    w.WriteNumber("median_read_gb_per_second", Math.Round(b.MedianReadGBps, 2));
                    w.WriteNumber("buffer_bytes", b.BufferBytes);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("results");
                foreach (Row r in rows)
                {
                    w.WriteStartObject();
                    w.WriteString("scheme", r.Scheme);
                    w.WriteNumber("threads", r.Threads);
                    w.WriteNumber("decode_tokens_per_second", Math.Round(r.Speed.DecodeTokensPerSecond, 3));
                    w.WriteNumber("median_decode_tokens_per_second", Math.Round(r.Speed.MedianDecodeTokensPerSecond, 3));
                    w.WriteNumber("prefill_tokens_per_second", Math.Round(r.Speed.PrefillTokensPerSecond, 2));
                    w.WriteNumber("median_prefill_tokens_per_second", Math.Round(r.Speed.MedianPrefillTokensPerSecond, 2));
                    w.WriteNumber("weight_bytes_per_token", r.Speed.StreamedBytesPerToken);
                    w.WriteNumber("decode_gb_per_second", Math.Round(r.Speed.DecodeGBps, 2));
                    w.WriteNumber("bandwidth_gb_per_second", Math.Round(r.Bandwidth.ReadGBps, 2));
                    w.WriteNumber("roofline_fraction", Math.Round(r.RooflineFraction, 3));
                    w.WriteNumber("bandwidth_roof_tokens_per_second", Math.Round(r.BandwidthRoof, 3));
                    if (r.ComputeRoof is double roof)
                    {
                        w.WriteNumber("compute_weights_per_second_per_core", Math.Round(r.ComputeWeightsPerSecond!.Value));
                        w.WriteNumber("compute_roof_tokens_per_second", Math.Round(roof, 3));
                        w.WriteString("bound", r.Bound);
                        w.WriteNumber("min_roof_fraction", Math.Round(r.MinRoofFraction, 3));
                    }

                    w.WriteNumber("allocated_bytes_per_token", Math.Round(r.Speed.AllocatedBytesPerToken, 1));
                    w.WriteNumber("decode_cpu_cores", Math.Round(r.Speed.DecodeCpuUtilization, 2));
                    if (r.Llama is LlamaRow l)
                    {
                        w.WriteStartObject("llama_cpp");
                        w.WriteString("type", l.Type);
                        w.WriteNumber("decode_tokens_per_second", Math.Round(l.Decode, 3));
                        w.WriteNumber("median_decode_tokens_per_second", Math.Round(l.MedianDecode, 3));
                        w.WriteNumber("prefill_tokens_per_second", Math.Round(l.Prefill, 2));
                        w.WriteNumber("median_prefill_tokens_per_second", Math.Round(l.MedianPrefill, 2));
                        w.WriteNumber("weight_bytes_per_token", l.StreamedBytesPerToken);
                        w.WriteNumber("decode_gb_per_second", Math.Round(l.DecodeGBps, 2));
                        w.WriteNumber("roofline_fraction", Math.Round(l.DecodeGBps / r.Bandwidth.ReadGBps, 3));
                        if (l.CpuCores is double cores)
                        {
                            w.WriteNumber("decode_cpu_cores", Math.Round(cores, 2));
                        }

                        w.WriteNumber("decode_ratio", Math.Round(r.Speed.DecodeTokensPerSecond / l.Decode, 3));
                        w.WriteNumber("prefill_ratio", Math.Round(r.Speed.PrefillTokensPerSecond / l.Prefill, 3));
                        w.WriteEndObject();
                    }

                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("batched");
                foreach ((string scheme, int threads, BatchedSpeedResult b) in batched)
                {
                    w.WriteStartObject();
                    w.WriteString("scheme", scheme);
                    w.WriteNumber("threads", threads);
                    w.WriteNumber("sequences", b.Sequences);
                    w.WriteNumber("tokens_per_second_per_sequence", Math.Round(b.PerSequenceTokensPerSecond, 3));
                    w.WriteNumber("median_tokens_per_second_per_sequence", Math.Round(b.MedianPerSequenceTokensPerSecond, 3));
                    w.WriteNumber("aggregate_tokens_per_second", Math.Round(b.AggregateTokensPerSecond, 3));
                    w.WriteNumber("allocated_bytes_per_step", Math.Round(b.AllocatedBytesPerStep, 1));
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
        }
        else
        {
            bool vs = rows.Any(r => r.Llama is not null);
            var table = new Table().AddColumns("scheme", "threads", "decode tok/s", "prefill tok/s", "MiB/token", "GB/s", "probe GB/s", "roofline", "compute roof", "bound", "of lower roof", "B alloc/token", "CPU cores");
            if (vs)
            {
                table.AddColumns("llama.cpp type", "llama decode", "llama prefill", "llama roofline", "decode ×", "prefill ×");
            }

            foreach (Row r in rows)
            {
                var cells = new List<string>
                {
                    Markup.Escape(r.Scheme), r.Threads.ToString(), $"{r.Speed.DecodeTokensPerSecond:F2}", $"{r.Speed.PrefillTokensPerSecond:F1}",
                    $"{r.Speed.StreamedBytesPerToken / 1048576.0:F1}", $"{r.Speed.DecodeGBps:F1}", $"{r.Bandwidth.ReadGBps:F1}", $"{r.RooflineFraction:P0}",
                    r.ComputeRoof is double roof ? $"{roof:F1}" : "-", r.ComputeRoof is null ? "-" : r.Bound, r.ComputeRoof is null ? "-" : $"{r.MinRoofFraction:P0}",
                    $"{r.Speed.AllocatedBytesPerToken:F0}", $"{r.Speed.DecodeCpuUtilization:F2}",
                };
                if (vs)
                {
                    cells.AddRange(r.Llama is LlamaRow l
                        ? [l.Type, $"{l.Decode:F2}", $"{l.Prefill:F1}", $"{l.DecodeGBps / r.Bandwidth.ReadGBps:P0}", $"{r.Speed.DecodeTokensPerSecond / l.Decode:F2}", $"{r.Speed.PrefillTokensPerSecond / l.Prefill:F2}"]
                        : ["-", "-", "-", "-", "-", "-"]);
                }

                table.AddRow(cells.ToArray());
            }

            if (Console.IsOutputRedirected)
            {
                AnsiConsole.Profile.Width = vs ? 240 : 160;
            }

            AnsiConsole.Write(table);
            Console.Out.WriteLine($"best of {options.Repeats} runs after a warm-up; prompt {options.PromptTokens} tokens, decode {options.GenerateTokens} tokens; roofline = probe bandwidth / weight bytes per token; compute roof = tok/s the decode kernel allows on this many cores with the weights in L2 (ComputeRoof), bound = the lower of the two roofs.");
            if (vs)
            {
                Console.Out.WriteLine($"llama.cpp timed through {llama!.LlamaBenchPath ?? "node-llama-cpp"}.");
            }

            if (batched.Count > 0)
            {
                var bt = new Table().AddColumns("scheme", "threads", "sequences", "tok/s per sequence", "tok/s in all", "per sequence ÷ 1 sequence", "B alloc/step");
                foreach ((string scheme, int threads, BatchedSpeedResult b) in batched)
                {
                    double? single = batched.FirstOrDefault(x => x.Scheme == scheme && x.Threads == threads && x.Speed.Sequences == 1).Speed?.PerSequenceTokensPerSecond;
                    bt.AddRow(Markup.Escape(scheme), threads.ToString(), b.Sequences.ToString(), $"{b.PerSequenceTokensPerSecond:F2}", $"{b.AggregateTokensPerSecond:F2}",
                        single is double one ? $"{b.PerSequenceTokensPerSecond / one:F2}" : "-", $"{b.AllocatedBytesPerStep:F0}");
                }

                AnsiConsole.Write(bt);
                Console.Out.WriteLine("batched decode: every step advances each sequence by one token in one pass over the weights.");
            }
        }

        return ExitCodes.Ok;
    }
}
