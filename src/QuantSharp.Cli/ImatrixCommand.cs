using System.CommandLine;
using QuantSharp.Calibration;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp imatrix</c>: an importance matrix (per input column, the mean squared activation of every
/// block linear on calibration text) in llama.cpp's GGUF imatrix format, for <c>quantize --imatrix</c> and for
/// llama.cpp's <c>llama-quantize --imatrix</c>.</summary>
internal static class ImatrixCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var output = new Option<string>("--output", "-o") { Description = "imatrix file to write (GGUF, replaced atomically).", Required = true };
        var hfNames = new Option<bool>("--hf-names") { Description = "Key entries by the checkpoint's tensor names instead of llama.cpp's (blk.N.attn_q.weight, …); architectures llama.cpp has no names for here (BERT) always use the checkpoint's." };
        var calibration = new CalibrationCliOptions();
        var json = CliOptions.Json();
        var threads = CliOptions.Threads();
        var command = new Command("imatrix", "Compute an importance matrix: for every block linear, the sum of squared inputs per input column over calibration text,\n"
            + "as llama.cpp's llama-imatrix computes it, written in its GGUF imatrix format with llama.cpp's tensor names (so llama-quantize --imatrix\n"
            + "reads it for the GGUF export, and quantize --imatrix for the checkpoint). quantize --imatrix then picks each int4/int3/int2 group's\n"
            + "grid to minimise the rounding error weighted by it.\n"
            + "Example: quantsharp imatrix ../shared/models/brown-llama -o brown.imatrix.gguf --calib ../shared/data/tinyshakespeare/input.txt --calib-samples 64")
        {
            model, output, hfNames, json, threads, calibration.Calib, calibration.Samples, calibration.Length, calibration.Seed, calibration.Temperature,
        };
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            using LoadedModel loaded = ModelOptions.Load(CliOptions.ResolveModel(parse.GetValue(model)));
            CalibrationData data = calibration.LoadData(parse, loaded);
            var progress = new StderrProgress("imatrix");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            ImportanceMatrix matrix = ImportanceCollector.Collect(loaded.Model, data, (done, total) => progress.Report(done, total, "blocks"));
            IReadOnlyDictionary<string, string> gguf = GgufTensorNames.BlockLinears(loaded.Model.Spec, loaded.Model.Blocks.Length);
            if (!parse.GetValue(hfNames) && gguf.Count > 0)
            {
                matrix = matrix.Renamed(name => gguf.GetValueOrDefault(name, name));
            }

            string path = parse.GetValue(output)!;
            matrix.Save(path);
            int entries = matrix.Names.Count();
            if (parse.GetValue(json))
            {
                CliOptions.WriteJson(w =>
                {
                    w.WriteString("output", path);
                    w.WriteNumber("entries", entries);
                    w.WriteNumber("sequences", data.Sequences.Count);
                    w.WriteNumber("tokens", data.Tokens);
                    w.WriteNumber("seconds", Math.Round(clock.Elapsed.TotalSeconds, 2));
                });
            }
            else
            {
                Console.Out.WriteLine($"wrote {path}: {entries} entries from {data.Tokens:N0} tokens ({data.Sequences.Count} × {data.Length}) in {clock.Elapsed.TotalSeconds:F1} s");
            }

            return ExitCodes.Ok;
        });
        return command;
    }
}
