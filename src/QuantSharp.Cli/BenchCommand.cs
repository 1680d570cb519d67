using System.CommandLine;
using QuantSharp.Evaluation;
using QuantSharp.Kernels;
using QuantSharp.Models;
using Spectre.Console;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp bench</c>: decode and prefill speed per storage scheme and thread count, against the memory
/// bandwidth measured in the same run.</summary>
internal static class BenchCommand
{
    /// <summary>One row of the report.</summary>
    private sealed record Row(string Scheme, int Threads, SpeedResult Speed, BandwidthResult Bandwidth)
    {
        /// <summary>Decode speed over the speed at which the measured bandwidth streams the weights once per token.</summary>
        public double RooflineFraction => Speed.DecodeGBps / Bandwidth.ReadGBps;
    }

    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var schemes = new Option<string?>("--schemes") { Description = "Comma-separated storage schemes: f32, f16, bf16, int8, int4, nf4, fp4, ternary or any canonical scheme name (int4-g32-sym, ternary-g128, nf4-dq…). Default: the checkpoint's dtype, int8, int4, nf4, ternary." };
        var threads = new Option<string>("--threads", "-t") { Description = "Comma-separated thread counts.", DefaultValueFactory = _ => "1,2" };
        var prompt = new Option<int>("--prompt") { Description = "Prompt tokens (prefill, one batch).", DefaultValueFactory = _ => 64 };
        var gen = new Option<int>("--gen") { Description = "Tokens decoded one at a time after the prompt.", DefaultValueFactory = _ => 32 };
        var repeat = new Option<int>("--repeat") { Description = "Timed repeats (after one warm-up); the best is reported, the median too in --json.", DefaultValueFactory = _ => 3 };
        var probeMiB = new Option<int>("--probe-mib") { Description = "Size of the bandwidth probe's buffer in MiB (≫ L3).", DefaultValueFactory = _ => 512 };
        var json = CliOptions.Json();
        var command = new Command("bench", "Decode and prefill speed per scheme × thread count: tokens/s, GB/s of weights streamed per decoded token, the read\n"
            + "bandwidth measured by a built-in probe in the same run, the fraction of that roofline, and bytes allocated per decoded\n"
            + "token (0 expected). Quantized schemes are made from the dense checkpoint at load time (round-to-nearest).\n"
            + "Example: quantsharp synth --like tinyllama-1.1b --out /tmp/tl && quantsharp bench /tmp/tl --schemes f16,int8,int4 --threads 1,2")
        {
            model, schemes, threads, prompt, gen, repeat, probeMiB, json,
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
            return Run(CliOptions.ResolveModel(parse.GetValue(model)), schemeList is null ? null : ParseList(schemeList, "--schemes"), threadCounts, options, mib, parse.GetValue(json));
        });
        return command;
    }

    private static string[] ParseList(string text, string option)
    {
        string[] items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return items.Length > 0 ? items : throw new UsageException($"{option} '{text}' lists nothing");
    }

    private static int Run(string path, string[]? schemes, int[] threadCounts, SpeedOptions options, int probeMiB, bool json)
    {
        ModelConfig config = ModelConfig.Load(path);
        if (schemes is null)
        {
            using LoadedModel probeLoad = ModelLoader.Load(path);
            schemes = [probeLoad.Model.BlockLinears().First().Weight.Scheme, "int8", "int4", "nf4", "ternary"];
        }

        foreach (string s in schemes)
        {
            _ = SchemeLinearProvider.Converter(s);
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
        foreach (string scheme in schemes)
        {
            var progress = new StderrProgress($"bench {scheme}");
            progress.Report(0, 1, "preparing weights");
            using LoadedModel loaded = ModelLoader.Load(path, new LoadOptions { LinearProvider = (c, s) => new SchemeLinearProvider(c, s, scheme) });
            progress.Report(1, 1, "weights ready");
            foreach (int t in threadCounts)
            {
                WorkerPool.SetSharedThreads(t);
                SpeedResult speed = SpeedBenchmark.Run(loaded.Model, options);
                var row = new Row(scheme, t, speed, bandwidth[t]);
                rows.Add(row);
                Console.Error.WriteLine($"bench {scheme} ×{t}: decode {speed.DecodeTokensPerSecond:F2} tok/s ({speed.DecodeGBps:F1} GB/s, {row.RooflineFraction:P0} of {bandwidth[t].ReadGBps:F1}), "
                    + $"prefill {speed.PrefillTokensPerSecond:F1} tok/s, {speed.AllocatedBytesPerToken:F0} B allocated/token, {speed.DecodeCpuUtilization:F2} cores busy");
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
                    w.WriteNumber("allocated_bytes_per_token", Math.Round(r.Speed.AllocatedBytesPerToken, 1));
                    w.WriteNumber("decode_cpu_cores", Math.Round(r.Speed.DecodeCpuUtilization, 2));
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
        }
        else
        {
            var table = new Table().AddColumns("scheme", "threads", "decode tok/s", "prefill tok/s", "MiB/token", "GB/s", "probe GB/s", "roofline", "B alloc/token", "CPU cores");
            foreach (Row r in rows)
            {
                table.AddRow(
                    Markup.Escape(r.Scheme), r.Threads.ToString(), $"{r.Speed.DecodeTokensPerSecond:F2}", $"{r.Speed.PrefillTokensPerSecond:F1}",
                    $"{r.Speed.StreamedBytesPerToken / 1048576.0:F1}", $"{r.Speed.DecodeGBps:F1}", $"{r.Bandwidth.ReadGBps:F1}", $"{r.RooflineFraction:P0}", $"{r.Speed.AllocatedBytesPerToken:F0}", $"{r.Speed.DecodeCpuUtilization:F2}");
            }

            if (Console.IsOutputRedirected)
            {
                AnsiConsole.Profile.Width = 160;
            }

            AnsiConsole.Write(table);
            Console.Out.WriteLine($"best of {options.Repeats} runs after a warm-up; prompt {options.PromptTokens} tokens, decode {options.GenerateTokens} tokens; roofline = probe bandwidth / weight bytes per token.");
        }

        return ExitCodes.Ok;
    }
}
