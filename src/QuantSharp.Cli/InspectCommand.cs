using System.CommandLine;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Tensors;
using QuantSharp.Models;
using Spectre.Console;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp inspect</c>: architecture, parameter count and every tensor of a checkpoint.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var json = CliOptions.Json();
        var command = new Command("inspect", "Show a checkpoint's architecture, parameter count and every tensor (name, dtype, shape, bytes);\n"
            + "for an importance matrix (GGUF imatrix), its source and every entry (columns, tokens, mean and largest mean square).\n"
            + "Example: quantsharp inspect ../shared/models/stories260K/hf")
        {
            model,
            json,
        };
        command.SetAction(parse => Run(CliOptions.ResolveModel(parse.GetValue(model)), parse.GetValue(json)));
        return command;
    }

    private static int Run(string path, bool json)
    {
        if (File.Exists(path) && GgufFile.HasMagic(path) && IsImportanceMatrix(path))
        {
            return RunImportanceMatrix(path, json);
        }

        using LoadedModel loaded = ModelLoader.Load(path);
        ModelConfig c = loaded.Model.Config;
        IReadOnlyList<TensorRow> tensors = InspectSource.ListTensors(path);
        long parameters = InspectSource.Parameters(loaded.Model);
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("path", path);
                w.WriteString("architecture", c.Architecture);
                w.WriteNumber("parameters", parameters);
                w.WriteNumber("layers", c.Layers);
                w.WriteNumber("hidden_size", c.HiddenSize);
                w.WriteNumber("heads", c.Heads);
                w.WriteNumber("kv_heads", c.KvHeads);
                w.WriteNumber("vocab_size", c.VocabSize);
                w.WriteNumber("context", c.MaxPositions);
                w.WriteNumber("file_bytes", loaded.FileBytes);
                w.WriteNumber("weight_bytes_in_memory", loaded.Model.WeightBytes);
                w.WriteString("quantization", loaded.Model.BlockLinears().FirstOrDefault().Weight?.Scheme ?? "");
                w.WriteStartArray("tensors");
                foreach (var t in tensors)
                {
                    w.WriteStartObject();
                    w.WriteString("name", t.Name);
                    w.WriteString("dtype", t.Type);
                    w.WriteStartArray("shape");
                    foreach (long d in t.Shape)
                    {
                        w.WriteNumberValue(d);
                    }

                    w.WriteEndArray();
                    w.WriteNumber("bytes", t.Bytes);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
            return ExitCodes.Ok;
        }

        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(path)}[/]");
        var summary = new Table().AddColumns("property", "value").HideHeaders();
        summary.AddRow("architecture", Markup.Escape(c.Architecture));
        summary.AddRow("parameters", $"{parameters:N0}");
        summary.AddRow("layers / hidden / ffn", $"{c.Layers} / {c.HiddenSize} / {c.IntermediateSize}");
        summary.AddRow("heads / kv heads / head dim", $"{c.Heads} / {c.KvHeads} / {c.HeadDim}");
        summary.AddRow("vocab / context", $"{c.VocabSize} / {c.MaxPositions}");
        summary.AddRow("linear weights", Markup.Escape(string.Join(", ", loaded.Model.BlockLinears().Select(l => l.Weight.Scheme).Distinct())));
        summary.AddRow("file size", CliOptions.Bytes(loaded.FileBytes));
        summary.AddRow("weights in memory", CliOptions.Bytes(loaded.Model.WeightBytes));
        AnsiConsole.Write(summary);
        var table = new Table().AddColumns("tensor", "dtype", "shape", "bytes");
        foreach (var t in tensors)
        {
            table.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Type), Markup.Escape("[" + string.Join(", ", t.Shape) + "]"), $"{t.Bytes:N0}");
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"{tensors.Count} tensors, {CliOptions.Bytes(tensors.Sum(t => t.Bytes))}");
        return ExitCodes.Ok;
    }

    private static bool IsImportanceMatrix(string path)
    {
        using GgufFile file = GgufFile.Open(path);
        return file.GetValueOrNull("general.type") is not null && file.GetString("general.type") == "imatrix";
    }

    private static int RunImportanceMatrix(string path, bool json)
    {
        Quantization.ImportanceMatrix m = Quantization.ImportanceMatrix.Load(path);
        var rows = m.Names.Order(StringComparer.Ordinal).Select(n => (Name: n, Mean: m.MeanSquares(n)!, Count: m.Count(n))).ToList();
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("path", path);
                w.WriteString("type", "imatrix");
                w.WriteNumber("chunk_count", m.ChunkCount);
                w.WriteNumber("chunk_size", m.ChunkSize);
                w.WriteStartArray("datasets");
                foreach (string d in m.Datasets)
                {
                    w.WriteStringValue(d);
                }

                w.WriteEndArray();
                w.WriteStartArray("entries");
                foreach (var r in rows)
                {
                    w.WriteStartObject();
                    w.WriteString("name", r.Name);
                    w.WriteNumber("columns", r.Mean.Length);
                    w.WriteNumber("tokens", r.Count);
                    w.WriteNumber("mean", r.Mean.Average());
                    w.WriteNumber("max", r.Mean.Max());
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            });
            return ExitCodes.Ok;
        }

        AnsiConsole.MarkupLine(Markup.Escape($"{path}: importance matrix, {rows.Count} entries, {m.ChunkCount} chunks of {m.ChunkSize} tokens from {string.Join(", ", m.Datasets)}"));
        var table = new Table().AddColumns("entry", "columns", "tokens", "mean x²", "max x²");
        foreach (var r in rows)
        {
            table.AddRow(Markup.Escape(r.Name), $"{r.Mean.Length:N0}", $"{r.Count:N0}", $"{r.Mean.Average():G4}", $"{r.Mean.Max():G4}");
        }

        AnsiConsole.Write(table);
        return ExitCodes.Ok;
    }

}

/// <summary>One stored tensor as inspect lists it.</summary>
internal sealed record TensorRow(string Name, string Type, long[] Shape, long Bytes);

/// <summary>Tensor listing and parameter counting for inspect.</summary>
internal static class InspectSource
{
    /// <summary>Every stored tensor sorted by name: safetensors dtypes, or GGUF ggml types with row-major shapes.</summary>
    public static IReadOnlyList<TensorRow> ListTensors(string path)
    {
        if (Directory.Exists(path))
        {
            // The checkpoint is reopened briefly for the listing.
            using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(path);
            return source.Tensors.Values.Select(v => new TensorRow(v.Name, v.DType.ToString(), v.Shape, v.ByteLength))
                .OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        }

        if (GgufFile.HasMagic(path))
        {
            using GgufFile gguf = GgufFile.Open(path);
            return gguf.TensorsInOrder.Select(t => new TensorRow(t.Name, GgmlTypeInfo.Name(t.Type), t.Shape, t.ByteLength))
                .OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        }

        return [];
    }

    public static long Parameters(TransformerModel model)
    {
        long n = (long)model.Embedding.Rows * model.Embedding.Cols;
        if (model.LmHead is not null && !ReferenceEquals(model.LmHead, model.Embedding))
        {
            n += (long)model.LmHead.Rows * model.LmHead.Cols;
        }

        n += model.BlockLinears().Sum(l => (long)l.Weight.Rows * l.Weight.Cols);
        n += (model.WeightBytes - model.Embedding.BytesInMemory - (model.LmHead is null || ReferenceEquals(model.LmHead, model.Embedding) ? 0 : model.LmHead.BytesInMemory)
            - model.BlockLinears().Sum(l => l.Weight.BytesInMemory)) / 4; // norms, biases, position tables (float32)
        return n;
    }
}
