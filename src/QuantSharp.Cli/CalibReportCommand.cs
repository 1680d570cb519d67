using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using QuantSharp.Calibration;
using QuantSharp.Evaluation;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Cli;

/// <summary>
/// <c>quantsharp calib-report</c>: the issue-4 comparison in one command — RTN vs GPTQ vs AWQ, text vs data-free
/// calibration, ternary, mixed precision — as perplexity on two texts plus size, time and peak memory, printed as
/// a Markdown table.
/// </summary>
internal static class CalibReportCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var texts = new Option<string[]>("--eval") { Description = "Texts to score (perplexity).", AllowMultipleArgumentsPerToken = true };
        var ctx = new Option<int>("--ctx") { Description = "Perplexity window.", DefaultValueFactory = _ => 256 };
        var maxWindows = new Option<int>("--max-windows") { Description = "Windows per text (0 = all).", DefaultValueFactory = _ => 100 };
        var calibFile = new Option<string>("--calib-file") { Description = "Text calibration file.", Required = true };
        var samples = new Option<int>("--calib-samples") { Description = "Calibration sequences.", DefaultValueFactory = _ => 128 };
        var length = new Option<int>("--calib-len") { Description = "Tokens per calibration sequence.", DefaultValueFactory = _ => 256 };
        var planSamples = new Option<int>("--plan-samples") { Description = "Sequences (of 128 tokens) for the mixed-precision sensitivity.", DefaultValueFactory = _ => 4 };
        var avgBits = new Option<double>("--avg-bits") { Description = "Mixed-precision budget.", DefaultValueFactory = _ => 3.5 };
        var threads = CliOptions.Threads();
        var command = new Command("calib-report", "Calibrated quantization report (issue 4): perplexity of RTN/GPTQ/AWQ/mixed precision with text and self calibration.\n"
            + "Example: see bench/calibrated-quantization.sh")
        {
            model, texts, ctx, maxWindows, calibFile, samples, length, planSamples, avgBits, threads,
        };
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            string[] evalFiles = parse.GetValue(texts) ?? [];
            foreach (string f in evalFiles.Append(parse.GetValue(calibFile)!))
            {
                if (!File.Exists(f))
                {
                    throw new UsageException($"{f}: file not found");
                }
            }

            return Run(CliOptions.ResolveModel(parse.GetValue(model)), evalFiles, parse.GetValue(ctx), parse.GetValue(maxWindows), parse.GetValue(calibFile)!,
                parse.GetValue(samples), parse.GetValue(length), parse.GetValue(planSamples), parse.GetValue(avgBits));
        });
        return command;
    }

    private sealed record Row(string Method, string Scheme, string Calib, double[] Ppl, long Bytes, double Bits, double Seconds, long PeakBytes, long ActivationBytes);

    private static int Run(string modelPath, string[] evalFiles, int ctx, int maxWindows, string calibFile, int samples, int length, int planSamples, double avgBits)
    {
        using LoadedModel loaded = ModelOptions.Load(modelPath);
        TransformerModel fp = loaded.Model;
        var tokenizer = loaded.RequireTokenizer();
        int bos = tokenizer.BosId ?? throw new QuantSharpException("the tokenizer has no BOS");
        var evalTokens = evalFiles.Select(f => tokenizer.Encode(File.ReadAllText(f))).ToArray();
        length = Math.Min(length, fp.Config.MaxPositions);
        long weights = fp.BlockLinears().Sum(l => (long)l.Weight.Rows * l.Weight.Cols);
        var rows = new List<Row>();
        void Report(Row r)
        {
            rows.Add(r);
            Console.Error.WriteLine($"[calib-report] {r.Method} {r.Scheme} {r.Calib}: ppl {string.Join(" / ", r.Ppl.Select(p => p.ToString("F3", CultureInfo.InvariantCulture)))}, {r.Seconds:F1}s, peak {r.PeakBytes >> 20} MiB");
        }

        double[] Ppl(TransformerModel m) => [.. evalTokens.Select(t => PerplexityEvaluator.Evaluate(m, t, bos, new PerplexityOptions { Context = ctx, MaxWindows = maxWindows }).Perplexity)];
        long Bytes(TransformerModel m) => m.BlockLinears().Sum(l => l.Weight.BytesInMemory);

        Report(new Row("float", "f32", "-", Ppl(fp), Bytes(fp), 32, 0, PeakMemory.Bytes(), 0));

        QuantSpec int4 = QuantSpec.Int4(128), int3 = QuantSpec.Int3(128), int2 = QuantSpec.Int2(64), tern = QuantSpec.Ternary(TernaryGranularity.PerRow);
        foreach (QuantSpec spec in new[] { int4, int3, int2, tern })
        {
            PeakMemory.TryReset();
            var clock = Stopwatch.StartNew();
            TransformerModel q = CalibratedQuantization.QuantizeRtn(fp, _ => spec);
            double secs = clock.Elapsed.TotalSeconds;
            Report(new Row(spec.Kind == QuantSchemeKind.Ternary ? "absmean (plain)" : "RTN", spec.Name, "-", Ppl(q), Bytes(q), 8.0 * Bytes(q) / weights, secs, PeakMemory.Bytes(), 0));
        }

        foreach (string source in new[] { calibFile, "self" })
        {
            var dataClock = Stopwatch.StartNew();
            CalibrationData data = source == "self"
                ? CalibrationData.SelfGenerated(fp, bos, samples, length, 1.0f, 1234)
                : CalibrationData.FromText(tokenizer, File.ReadAllText(source), samples, length, 1234, source);
            string label = source == "self" ? "self" : Path.GetFileName(source);
            Console.Error.WriteLine($"[calib-report] calibration data {label}: {data.Sequences.Count}×{data.Length} tokens in {dataClock.Elapsed.TotalSeconds:F1}s");
            void Calibrated(QuantMethod method, Func<string, QuantSpec> specFor, string scheme, bool actOrder = false)
            {
                PeakMemory.TryReset();
                CalibratedResult r = CalibratedQuantization.Run(fp, data, specFor, method, new CalibrationOptions { Gptq = new GptqOptions { ActOrder = actOrder } });
                Report(new Row(method.ToString().ToUpperInvariant() + (actOrder ? " act-order" : ""), scheme, label, Ppl(r.Model), Bytes(r.Model), 8.0 * Bytes(r.Model) / weights, r.Seconds, PeakMemory.Bytes(), r.ActivationBytes));
            }

            Calibrated(QuantMethod.Gptq, _ => int4, int4.Name);
            Calibrated(QuantMethod.Awq, _ => int4, int4.Name);
            Calibrated(QuantMethod.Gptq, _ => int3, int3.Name);
            Calibrated(QuantMethod.Awq, _ => int3, int3.Name);
            Calibrated(QuantMethod.Gptq, _ => int2, int2.Name);
            Calibrated(QuantMethod.Gptq, _ => tern, tern.Name);

            PeakMemory.TryReset();
            var planClock = Stopwatch.StartNew();
            CalibrationData planData = CalibrationData.FromSequences([.. data.Sequences.Take(planSamples).Select(s => s[..Math.Min(128, s.Length)])], source);
            var measured = MixedPrecisionPlanner.Measure(fp, planData, PlanCandidate.Defaults);
            QuantPlan plan = MixedPrecisionPlanner.Choose(measured, MixedPrecisionPlanner.BudgetForAverageBits(measured, avgBits));
            double planSecs = planClock.Elapsed.TotalSeconds;
            string mix = string.Join(" ", plan.Entries.GroupBy(e => e.Choice).OrderBy(g => g.Key).Select(g => $"{g.Key}:{g.Count()}"));
            Console.Error.WriteLine($"[calib-report] plan ({label}) in {planSecs:F1}s: {mix}\n{plan.ToTable()}");
            TransformerModel rtnMixed = CalibratedQuantization.QuantizeRtn(fp, plan.SpecFor);
            Report(new Row($"mixed RTN ({mix})", $"avg {avgBits} bits", label, Ppl(rtnMixed), Bytes(rtnMixed), 8.0 * Bytes(rtnMixed) / weights, planSecs, PeakMemory.Bytes(), 0));
            Calibrated(QuantMethod.Gptq, plan.SpecFor, $"mixed avg {avgBits} bits");
        }

        var sb = new StringBuilder();
        sb.AppendLine($"| method | scheme | calibration | {string.Join(" | ", evalFiles.Select(f => "ppl " + Path.GetFileName(f)))} | block-linear bytes | bits/weight | quantize time (s) | peak RSS (MiB) | calib activations (MiB) |");
        sb.AppendLine($"|---|---|---|{string.Concat(evalFiles.Select(_ => "---|"))}---|---|---|---|---|");
        foreach (Row r in rows)
        {
            sb.AppendLine(FormattableString.Invariant($"| {r.Method} | {r.Scheme} | {r.Calib} | {string.Join(" | ", r.Ppl.Select(p => p.ToString("F3", CultureInfo.InvariantCulture)))} | {r.Bytes} | {r.Bits:F2} | {r.Seconds:F1} | {r.PeakBytes / 1048576.0:F0} | {r.ActivationBytes / 1048576.0:F1} |"));
        }

        Console.Out.Write(sb.ToString());
        return ExitCodes.Ok;
    }
}
