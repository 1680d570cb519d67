using System.CommandLine;
using System.Runtime.InteropServices;
using QuantSharp.Calibration;
using QuantSharp.Evaluation;
using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;
using Spectre.Console;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp quantize</c>: writes a quantized checkpoint folder that loads without the original.</summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Source checkpoint: a folder with *.safetensors (any architecture) or a single .safetensors file." };
        var output = new Argument<string>("output") { Description = "Output folder (created atomically; must not exist or be empty unless --force)." };
        var scheme = new SchemeOptions("--scheme", required: true);
        var force = new Option<bool>("--force") { Description = "Replace an existing non-empty output folder." };
        var layout = new Option<string>("--layout") { Description = "Output layout: quantsharp (default; every scheme), gptq (Hugging Face GPTQ v1: int4/int2 groups) or awq (AutoAWQ GEMM: int4 groups).", DefaultValueFactory = _ => "quantsharp" };
        var calibration = new CalibrationCliOptions();
        var imatrix = new Option<string?>("--imatrix") { Description = "Importance matrix (GGUF, from 'quantsharp imatrix' or llama.cpp's llama-imatrix): round-to-nearest picks each int4/int3/int2 group's grid (or each ternary row's or group's scale) to minimise the rounding error weighted by it." };
        var json = CliOptions.Json();
        var threads = CliOptions.Threads();
        var command = new Command("quantize", "Quantize a checkpoint and save it: model.safetensors with packed weights and scales, config.json with a quantization_config,\n"
            + "tokenizer and other files copied. Default selection: every linear weight inside the transformer blocks (architectures QuantSharp runs),\n"
            + "otherwise every 2-D float '*.weight' that is not an embedding, norm or LM head. Streams one tensor at a time; Ctrl-C leaves nothing behind.\n"
            + "Calibrated: --method gptq|awq with --calib FILE|self (block by block, on calibration activations); --plan plan.json from 'quantsharp plan' gives each layer its own scheme.\n"
            + "Example: quantsharp quantize ../shared/models/brown-llama /tmp/brown-int4 --scheme int4 --group-size 32 --sym\n"
            + "Example: quantsharp quantize ../shared/models/brown-llama /tmp/brown-gptq3 --scheme int3 --method gptq --calib ../shared/data/wikitext-2-tokens/valid.txt")
        {
            model, output, force, layout, imatrix, json, threads,
        };
        scheme.AddTo(command);
        calibration.AddTo(command);
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            WeightFormat format = scheme.Resolve(parse)!;
            string layoutName = parse.GetValue(layout)!;
            bool calibrated = CalibrationCliOptions.ParseMethod(parse.GetValue(calibration.Method)!) != QuantMethod.Rtn || parse.GetValue(calibration.Plan) is not null;
            string? importance = parse.GetValue(imatrix);
            if (importance is not null && (calibrated || layoutName != "quantsharp" || format.Spec is not QuantSpec imatrixSpec || !WeightFormat.AcceptsImportance(imatrixSpec)))
            {
                throw new UsageException("--imatrix applies to round-to-nearest int4/int3/int2 and ternary with scales per row or group (--method rtn, --layout quantsharp)");
            }

            if (calibrated || layoutName != "quantsharp")
            {
                bool patterns = scheme.IncludePatterns(parse).Length > 0 || scheme.ExcludePatterns(parse).Length > 0;
                if (patterns && layoutName != "quantsharp")
                {
                    // vLLM/TGI load these layouts with every block linear quantized in one scheme.
                    throw new UsageException($"--include/--exclude cannot be used with --layout {layoutName}: the Hugging Face {layoutName} layout quantizes every block linear");
                }

                string source = parse.GetValue(model)!;
                IReadOnlySet<string>? selected = patterns ? SelectBlockLinears(source, scheme.IncludePatterns(parse), scheme.ExcludePatterns(parse)) : null;
                return RunCalibrated(parse, calibration, source, parse.GetValue(output)!, format, layoutName, selected, parse.GetValue(force), parse.GetValue(json));
            }

            return Run(parse.GetValue(model)!, parse.GetValue(output)!, format, scheme.IncludePatterns(parse), scheme.ExcludePatterns(parse), importance, parse.GetValue(force), parse.GetValue(json));
        });
        return command;
    }

    private static int Run(string source, string output, WeightFormat format, string[] include, string[] exclude, string? importance, bool force, bool json)
    {
        if (!Directory.Exists(source) && !File.Exists(source))
        {
            throw new UsageException($"{source}: no such checkpoint folder or file");
        }

        var selector = QuantizedCheckpointWriter.DefaultSelector(source, include, exclude);
        TensorConverter convert = QuantizedCheckpointWriter.Convert(selector, format);
        if (importance is not null)
        {
            if (!File.Exists(importance))
            {
                throw new UsageException($"--imatrix {importance}: file not found");
            }

            ModelConfig config = ModelConfig.Load(source);
            ImportanceMatrix matrix = ImportanceMatrix.Load(importance);
            IReadOnlyDictionary<string, string> gguf;
            using (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(source))
            {
                gguf = GgufTensorNames.BlockLinears(ArchitectureSpec.For(config, checkpoint), config.Layers);

                // Every selected tensor needs an entry of its width: checked before anything is quantized or written.
                foreach (string name in selector.Select(checkpoint.Tensors))
                {
                    long cols = checkpoint.Tensors[name].Shape[^1];
                    float[]? entry = matrix.MeanSquares(name, gguf);
                    if (entry is null || entry.Length != cols)
                    {
                        throw new UsageException($"--imatrix {importance}: {(entry is null ? "no entry" : $"an entry of {entry.Length} columns")} for '{name}'"
                            + $"{(gguf.TryGetValue(name, out string? g2) ? $" (or '{g2}')" : "")}, which has {cols} input columns; was it made for another model?");
                    }
                }
            }

            convert = QuantizedCheckpointWriter.Convert(selector, format, matrix, gguf, importance);
        }

        var progress = new StderrProgress("quantizing");
        QuantizationReport report = QuantizedCheckpointWriter.Write(source, output, convert, new CheckpointWriteOptions
        {
            Overwrite = force,
            Progress = (done, total, name) => progress.Report(done, total, name),
        });
        Print(report, format, selector.UsesArchitecture, json);
        return ExitCodes.Ok;
    }

    /// <summary>The tensors --include/--exclude select, which for the calibrated path must all be block linears of an
    /// architecture QuantSharp runs (GPTQ and AWQ work block by block on the transformer blocks' inputs).</summary>
    private static HashSet<string> SelectBlockLinears(string source, string[] include, string[] exclude)
    {
        if (!Directory.Exists(source))
        {
            throw new UsageException($"{source}: no such checkpoint folder");
        }

        TensorSelector selector = QuantizedCheckpointWriter.DefaultSelector(source, include, exclude);
        if (!selector.UsesArchitecture)
        {
            throw new UsageException($"{source}: --method gptq|awq and --plan need an architecture QuantSharp runs; use round-to-nearest to quantize by name");
        }

        using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(source);
        HashSet<string> selected = [.. selector.Select(checkpoint.Tensors)];
        HashSet<string> blockLinears = [.. QuantizedCheckpointWriter.DefaultSelector(source).Select(checkpoint.Tensors)];
        string[] outside = [.. selected.Where(n => !blockLinears.Contains(n)).Order(StringComparer.Ordinal)];
        if (outside.Length > 0)
        {
            throw new UsageException($"--include selects {outside.Length} tensor(s) outside the transformer blocks ({string.Join(", ", outside.Take(3))}{(outside.Length > 3 ? ", …" : "")}); "
                + "--method gptq|awq and --plan quantize block linears only: narrow --include, or quantize those with round-to-nearest");
        }

        if (selected.Count == 0)
        {
            throw new UsageException("--include/--exclude leave no block linear to quantize");
        }

        return selected;
    }

    /// <summary>GPTQ / AWQ / a mixed-precision plan, or a Hugging Face layout: the model is loaded and quantized as a whole
    /// (block by block on calibration data), then written with the same writer as round-to-nearest. Block linears outside
    /// <paramref name="selected"/> (when given) are written as stored.</summary>
    private static int RunCalibrated(ParseResult parse, CalibrationCliOptions calibration, string source, string output, WeightFormat format, string layout, IReadOnlySet<string>? selected, bool force, bool json)
    {
        if (format.Spec is not QuantSpec spec)
        {
            throw new UsageException("--method/--plan/--layout need a quantized --scheme (not bf16)");
        }

        HfQuantLayout? hf = layout switch
        {
            "quantsharp" => null,
            "gptq" => HfQuantLayout.Gptq,
            "awq" => HfQuantLayout.AwqGemm,
            _ => throw new UsageException($"--layout '{layout}' is not quantsharp, gptq or awq"),
        };
        using LoadedModel loaded = ModelOptions.Load(source);
        (TransformerModel quantized, CalibratedResult? result) = calibration.Quantize(parse, loaded, spec, selected);
        if (hf is HfQuantLayout hfLayout)
        {
            HfQuantizedCheckpoint.Save(quantized, source, output, hfLayout, force);
            Console.Error.WriteLine($"wrote {output} in the {layout} layout");
        }
        else
        {
            Dictionary<string, ILinearWeight> linears = quantized.BlockLinears().Where(l => selected?.Contains(l.Name) ?? true)
                .ToDictionary(l => l.Name, l => l.Weight, StringComparer.Ordinal);
            var progress = new StderrProgress("writing");
            QuantizationReport report = QuantizedCheckpointWriter.Write(source, output, (name, _) => linears.GetValueOrDefault(name), new CheckpointWriteOptions
            {
                Overwrite = force,
                ReplacedTensors = result?.ReplacedTensors,
                Progress = (done, total, name) => progress.Report(done, total, name),
            });
            Print(report, format, byArchitecture: true, json);
        }

        if (result is not null && !json)
        {
            var table = new Table().AddColumns("layer", "scheme", "‖WX − ŴX‖²", "note");
            foreach (LayerReport l in result.Layers)
            {
                table.AddRow(Markup.Escape(l.Name), Markup.Escape(l.Scheme), $"{l.Loss:G4}", Markup.Escape(l.Note));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine(Markup.Escape($"calibrated in {result.Seconds:F1} s, peak memory {CliOptions.Bytes(result.PeakWorkingSetBytes)}, calibration activations {CliOptions.Bytes(result.ActivationBytes)}"));
        }

        return ExitCodes.Ok;
    }

    private static void Print(QuantizationReport report, WeightFormat format, bool byArchitecture, bool json)
    {
        long peak = PeakMemory.Bytes();
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("output", report.Output);
                w.WriteString("scheme", format.Name);
                w.WriteString("selection", byArchitecture ? "architecture" : "names");
                w.WriteNumber("tensors_quantized", report.Tensors.Count(t => t.Converted));
                w.WriteNumber("bytes_before", report.BytesBefore);
                w.WriteNumber("bytes_after", report.BytesAfter);
                w.WriteNumber("file_bytes", report.FileBytes);
                w.WriteNumber("quantized_bits_per_weight", Math.Round(report.ConvertedBitsPerWeight, 4));
                w.WriteNumber("seconds", Math.Round(report.Seconds, 3));
                w.WriteNumber("peak_memory_bytes", peak);
                w.WriteStartArray("groups");
                foreach (TensorGroupReport g in report.Groups)
                {
                    w.WriteStartObject();
                    w.WriteString("group", g.Group);
                    w.WriteNumber("tensors", g.Tensors);
                    w.WriteString("storage", g.Storage);
                    w.WriteNumber("bytes_before", g.BytesBefore);
                    w.WriteNumber("bytes_after", g.BytesAfter);
                    w.WriteNumber("bits_per_weight", Math.Round(g.BitsPerWeight, 4));
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
            return;
        }

        var table = new Table().AddColumns("tensor group", "tensors", "storage", "before", "after", "bits/weight");
        foreach (TensorGroupReport g in report.Groups)
        {
            table.AddRow(Markup.Escape(g.Group), g.Tensors.ToString(), Markup.Escape(g.Storage), CliOptions.Bytes(g.BytesBefore), CliOptions.Bytes(g.BytesAfter), $"{g.BitsPerWeight:F2}");
        }

        table.AddRow("[bold]total[/]", report.Tensors.Count.ToString(), Markup.Escape(format.Name), CliOptions.Bytes(report.BytesBefore), CliOptions.Bytes(report.BytesAfter), "");
        AnsiConsole.Write(table);
        // Tensors stored otherwise than asked (lattice rows that are not whole 256-blocks fall back to int4-g32-sym) are named.
        string stored = string.Join(", ", report.Tensors.Where(t => t.Converted).GroupBy(t => t.Storage).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} as {g.Key}"));
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {report.Output}: {stored} "
            + $"({report.ConvertedBitsPerWeight:F3} bits/weight with scales; selected by {(byArchitecture ? "architecture" : "name rule / patterns")}), "
            + $"model.safetensors {CliOptions.Bytes(report.FileBytes)}, {report.Seconds:F1} s, peak memory {CliOptions.Bytes(peak)}"));
    }
}
