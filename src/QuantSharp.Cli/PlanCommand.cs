using System.CommandLine;
using QuantSharp.Calibration;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp plan</c>: per-layer sensitivity and a mixed-precision plan under a byte budget.</summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var budget = new Option<long?>("--budget-bytes") { Description = "Bytes allowed for all block linear weights (packed codes + scales)." };
        var avgBits = new Option<double?>("--avg-bits") { Description = "Average bits per block linear weight, scales included (e.g. 3.5)." };
        var candidates = new Option<string>("--candidates") { Description = "Bit widths to consider.", DefaultValueFactory = _ => "8,4,3,2,ternary" };
        var output = new Option<string>("--out", "-o") { Description = "Where to write the plan.", DefaultValueFactory = _ => "plan.json" };
        var json = CliOptions.Json();
        var threads = CliOptions.Threads();
        var calib = new CalibrationCliOptions();
        calib.Samples.DefaultValueFactory = _ => 4;
        calib.Length.DefaultValueFactory = _ => 128;
        var command = new Command("plan", "Measures each linear layer's sensitivity (decoders: mean KL divergence from the unquantized model; encoders: relative error of the last hidden state; on calibration data when only\n"
            + "that layer is quantized to 8, 4, 3, 2 bits or ternary) and picks a bit width per layer that fits the budget with the least total.\n"
            + "Example: quantsharp plan ../shared/models/brown-llama --avg-bits 3.5 --calib ../shared/data/wikitext-2-tokens/valid.txt -o plan.json")
        {
            model, budget, avgBits, candidates, output, json, threads,
        };
        calib.AddTo(command);
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            long? b = parse.GetValue(budget);
            double? bits = parse.GetValue(avgBits);
            if ((b is null) == (bits is null))
            {
                throw new UsageException("give exactly one of --budget-bytes and --avg-bits");
            }

            if (b is <= 0 || bits is <= 0 or > 32)
            {
                throw new UsageException("--budget-bytes must be positive and --avg-bits between 0 and 32");
            }

            IReadOnlyList<PlanCandidate> cands = PlanCandidate.Parse(parse.GetValue(candidates)!);
            using LoadedModel loaded = ModelOptions.Load(CliOptions.ResolveModel(parse.GetValue(model)));
            CalibrationData data = calib.LoadData(parse, loaded);
            var progress = new StderrProgress("sensitivity");
            var measured = MixedPrecisionPlanner.Measure(loaded.Model, data, cands, (d, t) => progress.Report(d, t, "layers"));
            QuantPlan plan = MixedPrecisionPlanner.Choose(measured, b ?? MixedPrecisionPlanner.BudgetForAverageBits(measured, bits!.Value));
            string path = parse.GetValue(output)!;
            plan.Save(path);
            long weights = measured.Sum(m => m.Params);
            if (parse.GetValue(json))
            {
                CliOptions.WriteJson(w =>
                {
                    w.WriteString("plan", path);
                    w.WriteNumber("budget_bytes", plan.BudgetBytes);
                    w.WriteNumber("total_bytes", plan.TotalBytes);
                    w.WriteNumber("avg_bits", 8.0 * plan.TotalBytes / weights);
                    w.WriteNumber("estimated_kl", plan.EstimatedKl);
                    w.WriteNumber("layers", plan.Entries.Count);
                });
            }
            else
            {
                Console.Out.WriteLine(plan.ToTable());
                Console.Out.WriteLine($"average {8.0 * plan.TotalBytes / weights:F3} bits per weight; plan written to {path}");
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
