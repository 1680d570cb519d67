using System.Diagnostics;
using System.Numerics.Tensors;
using QuantSharp.Formats;
using QuantSharp.Models;

namespace QuantSharp.Cli;

/// <summary>The encoder half of <c>quantsharp embed</c>: sentence embeddings of one text, a file of texts, or given ids.</summary>
internal static class SentenceEmbeddings
{
    public static int Run(LoadedModel loaded, string? text, string? file, string? idsText, int layer, int batch, string? outputPath, bool json)
    {
        if (outputPath is not null && !outputPath.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) && !outputPath.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException($"--output {outputPath}: sentence embeddings are written as .safetensors or .npy");
        }

        using var encoder = SentenceEncoder.Create(loaded, new SentenceEncoderOptions { Layer = layer, BatchSize = batch });
        List<int[]> sequences;
        if (idsText is not null)
        {
            sequences = [ModelOptions.ParseIds(idsText)];
        }
        else
        {
            List<string> texts = text is not null ? [text] : ReadLines(file!);
            sequences = [.. texts.Select(encoder.Tokenize)];
        }

        var clock = Stopwatch.StartNew();
        float[][] embeddings = encoder.EmbedIds(sequences);
        double seconds = clock.Elapsed.TotalSeconds;
        int dim = encoder.Dimension;
        long tokens = sequences.Sum(s => (long)s.Length);
        if (outputPath is not null)
        {
            Write(outputPath, embeddings, dim, encoder.HiddenStateIndex);
        }

        string pooling = $"{encoder.Pooling.Mode.ToString().ToLowerInvariant()}{(encoder.Pooling.Normalize ? " + L2 normalize" : "")}";
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteNumber("texts", embeddings.Length);
                w.WriteNumber("dimension", dim);
                w.WriteNumber("hidden_state", encoder.HiddenStateIndex);
                w.WriteString("pooling", encoder.Pooling.Mode.ToString().ToLowerInvariant());
                w.WriteBoolean("normalize", encoder.Pooling.Normalize);
                w.WriteNumber("tokens", tokens);
                w.WriteNumber("seconds", Math.Round(seconds, 4));
                if (outputPath is not null)
                {
                    w.WriteString("output", outputPath);
                }
                else
                {
                    w.WriteStartArray("embeddings");
                    foreach (float[] e in embeddings)
                    {
                        w.WriteStartArray();
                        Array.ForEach(e, w.WriteNumberValue);
                        w.WriteEndArray();
                    }

                    w.WriteEndArray();
                }
            });
            return ExitCodes.Ok;
        }

        Console.Out.WriteLine($"{embeddings.Length} text(s), {tokens} tokens → [{embeddings.Length}, {dim}] ({pooling} of hidden_states[{encoder.HiddenStateIndex}]) in {seconds * 1000:F1} ms, {embeddings.Length / Math.Max(seconds, 1e-9):F1} texts/s");
        for (int i = 0; i < Math.Min(embeddings.Length, 10); i++)
        {
            string first = string.Join(" ", embeddings[i].Take(4).Select(v => v.ToString("F5", System.Globalization.CultureInfo.InvariantCulture).PadLeft(9)));
            Console.Out.WriteLine($"{i,4}  ‖v‖ {TensorPrimitives.Norm(embeddings[i]),8:F5}  {first} …");
        }

        if (embeddings.Length > 10)
        {
            Console.Out.WriteLine($"      … {embeddings.Length - 10} more");
        }

        if (outputPath is not null)
        {
            Console.Out.WriteLine($"wrote {outputPath}");
        }

        return ExitCodes.Ok;
    }

    /// <summary>The non-empty lines of a UTF-8 text file.</summary>
    public static List<string> ReadLines(string file)
    {
        if (!File.Exists(file))
        {
            throw new QuantSharpException($"{file}: no such file");
        }

        List<string> lines = [.. File.ReadLines(file).Where(l => !string.IsNullOrWhiteSpace(l))];
        return lines.Count > 0 ? lines : throw new QuantSharpException($"{file}: no text (every line is empty)");
    }

    private static void Write(string path, float[][] embeddings, int dim, int hiddenState)
    {
        float[] flat = [.. embeddings.SelectMany(e => e)];
        string full = Path.GetFullPath(path);
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            NpyFile.Write(full, [embeddings.Length, dim], flat);
            return;
        }

        using var writer = new SafetensorsWriter(Path.GetDirectoryName(full));
        writer.Metadata["hidden_states_index"] = hiddenState.ToString(System.Globalization.CultureInfo.InvariantCulture);
        writer.Add("embeddings", [embeddings.Length, dim], flat);
        writer.Commit(full);
    }
}
