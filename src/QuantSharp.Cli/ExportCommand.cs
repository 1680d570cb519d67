using System.CommandLine;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using Spectre.Console;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp export</c>: writes a model as a llama.cpp GGUF file.</summary>
internal static class ExportCommand
{
    private const string Types = "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, tq1_0, tq2_0, q2_0, iq4_nl, iq2_xs, iq2_s, iq3_xxs, iq3_s";

    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var output = new Argument<string>("output") { Description = "GGUF file to write (replaced atomically)." };
        var type = new Option<string>("--type") { Description = $"Type of the block weights: {Types}.", Required = true };
        var outputType = new Option<string?>("--output-type") { Description = "Type of output.weight (default: --type; q8_0 for tq1_0/tq2_0/q2_0 and the iq* types)." };
        var embeddingType = new Option<string?>("--embedding-type") { Description = "Type of token_embd.weight (default: --type; q8_0 for tq1_0/tq2_0/q2_0 and the iq* types)." };
        var name = new Option<string?>("--name") { Description = "general.name (default: the model folder's name)." };
        var json = CliOptions.Json();
        var command = new Command("export", "Write a model as a GGUF file that llama.cpp (and LLamaSharp, Ollama, LM Studio) load: from a safetensors\n"
            + "checkpoint, a quantized folder (QuantSharp, GPTQ, AWQ, bitsandbytes 4-bit) or a GGUF file. Same-grid weights are copied or\n"
            + "repacked losslessly, others dequantized and requantized; rows a block does not divide fall back per tensor. The report\n"
            + "lists what happened to each tensor.\n"
            + "Example: quantsharp export ../shared/models/brown-llama brown-q4_0.gguf --type q4_0")
        {
            model, output, type, outputType, embeddingType, name, json,
        };
        command.SetAction(parse => Run(
            CliOptions.ResolveModel(parse.GetValue(model)),
            parse.GetValue(output)!,
            new GgufExportOptions
            {
                Type = ParseType(parse.GetValue(type)!, "--type"),
                OutputType = parse.GetValue(outputType) is string o ? ParseType(o, "--output-type") : null,
                EmbeddingType = parse.GetValue(embeddingType) is string e ? ParseType(e, "--embedding-type") : null,
                Name = parse.GetValue(name),
            },
            parse.GetValue(json)));
        return command;
    }

    private static GgmlType ParseType(string text, string option)
        => GgmlTypeInfo.TryParse(text, out GgmlType t) && GgufExporter.CanWrite(t) ? t
            : throw new UsageException($"{option} {text}: not a type QuantSharp writes; use one of {Types}");

    private static int Run(string modelPath, string outputPath, GgufExportOptions options, bool json)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (dir is null || !Directory.Exists(dir))
        {
            throw new UsageException($"{outputPath}: the folder does not exist");
        }

        using LoadedModel loaded = ModelOptions.Load(modelPath);
        var progress = new StderrProgress("export");
        GgufExportReport report = GgufExporter.Export(loaded, outputPath, new GgufExportOptions
        {
            Type = options.Type,
            OutputType = options.OutputType,
            EmbeddingType = options.EmbeddingType,
            Name = options.Name,
            Progress = (done, total) => progress.Report(done, total, "tensors"),
        });
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("model", modelPath);
                w.WriteString("output", report.Path);
                w.WriteString("type", GgmlTypeInfo.Name(options.Type));
                w.WriteNumber("file_bytes", report.FileBytes);
                w.WriteNumber("bits_per_weight", Math.Round(report.BitsPerWeight, 4));
                w.WriteStartArray("tensors");
                foreach (GgufTensorExport t in report.Tensors)
                {
                    w.WriteStartObject();
                    w.WriteString("name", t.Name);
                    w.WriteString("source", t.Source);
                    w.WriteString("requested", GgmlTypeInfo.Name(t.Requested));
                    w.WriteString("written", GgmlTypeInfo.Name(t.Written));
                    w.WriteString("action", t.Action);
                    if (t.Note.Length > 0)
                    {
                        w.WriteString("note", t.Note);
                    }

                    w.WriteNumber("bytes", t.Bytes);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
            return ExitCodes.Ok;
        }

        var table = new Table().AddColumns("tensor", "ne", "from", "written", "action", "note");
        foreach (GgufTensorExport t in report.Tensors)
        {
            table.AddRow(Markup.Escape(t.Name), Markup.Escape("[" + string.Join(", ", t.Shape) + "]"), Markup.Escape(t.Source),
                GgmlTypeInfo.Name(t.Written), t.Action, Markup.Escape(t.Note));
        }

        AnsiConsole.Write(table);
        int fallbacks = report.Tensors.Count(t => t.Written != t.Requested);
        var actions = report.Tensors.GroupBy(t => t.Action).Select(g => $"{g.Count()} {g.Key}");
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {report.Path}: {CliOptions.Bytes(report.FileBytes)}, {report.BitsPerWeight:F2} bits per weight; "
            + string.Join(", ", actions) + (fallbacks > 0 ? $"; {fallbacks} tensors in a fallback type (see note)" : "")));
        return ExitCodes.Ok;
    }
}
