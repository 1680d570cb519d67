using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Tensors;
using QuantSharp.Tokenizers;

namespace QuantSharp.Tests.Formats.Gguf;

/// <summary>Small checkpoints given a real model's tokenizer, for GGUF vocabulary exports: the embedding (and output
/// layer) padded with zero rows to the real vocabulary, so the first rows compute exactly what the small model computes.</summary>
internal static class VocabularyFixtures
{
    /// <summary>A copy of checkpoint folder <paramref name="source"/> named <paramref name="name"/> with the tokenizer
    /// files of <paramref name="tokenizerFolder"/>, <paramref name="configure"/> applied to its config.json, and every
    /// tensor whose name ends with one of <paramref name="paddedSuffixes"/> padded with zero rows to <paramref name="rows"/>.</summary>
    public static string WithVocabulary(TempDir dir, string name, string source, string tokenizerFolder, int rows, Action<JsonNode> configure, params string[] paddedSuffixes)
    {
        string model = dir.File(name);
        Directory.CreateDirectory(model);
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!;
        configure(config);
        File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
        foreach (string f in Directory.GetFiles(tokenizerFolder, "tokenizer*"))
        {
            File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        }

        using var weights = SafetensorsFile.Open(Path.Combine(source, "model.safetensors"));
        using var writer = new SafetensorsWriter(model);
        foreach ((string tensor, TensorView view) in weights.Tensors)
        {
            if (paddedSuffixes.Any(s => tensor.EndsWith(s, StringComparison.Ordinal)))
            {
                float[] padded = new float[rows * view.Shape[1]];
                view.Bytes.CopyTo(MemoryMarshal.AsBytes(padded.AsSpan()));
                writer.Add(tensor, [rows, view.Shape[1]], padded);
            }
            else
            {
                writer.Add(view);
            }
        }

        writer.Commit(Path.Combine(model, "model.safetensors"));
        return model;
    }

    /// <summary>Exports <paramref name="model"/> to GGUF <paramref name="type"/>; returns the checkpoint's tokenizer and the file.</summary>
    public static (Tokenizer Original, string Gguf) Export(TempDir dir, string model, GgmlType type)
    {
        string gguf = dir.File(Path.GetFileName(model) + ".gguf");
        using LoadedModel source = ModelLoader.Load(model);
        GgufExporter.Export(source, gguf, new GgufExportOptions { Type = type });
        return (source.RequireTokenizer(), gguf);
    }

    /// <summary>The GGUF file's tokenizer, read back, gives the ids <paramref name="original"/> gives for every text.</summary>
    public static void AssertTokenizesAlike(Tokenizer original, string gguf, IEnumerable<string> texts, bool addSpecialTokens, bool parseSpecialTokens)
    {
        using LoadedModel back = ModelLoader.Load(gguf);
        Tokenizer read = back.RequireTokenizer();
        foreach (string text in texts)
        {
            Assert.Equal(original.Encode(text, addSpecialTokens, parseSpecialTokens), read.Encode(text, addSpecialTokens, parseSpecialTokens));
        }
    }
}
