using System.Text.Json.Nodes;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Tokenizers;

namespace QuantSharp.Tests.Formats.Gguf;

/// <summary>A Llama with Llama 3's tiktoken vocabulary exported to GGUF: llama.cpp's <c>gpt2</c> model with the
/// <c>llama-bpe</c> pre-tokenizer, merges recovered from the ranks, BOS added, <c>&lt;|eot_id|&gt;</c> as end of turn.</summary>
public sealed class GgufLlama3ExportTests
{
    [Fact]
    public void Llama3sTiktokenVocabularyIsWrittenAsLlamaBpeAndTokenizesAlikeAfterReload()
    {
        using var dir = new TempDir();
        string model = StoriesWithLlama3Vocabulary(dir);
        string gguf = dir.File("llama3.gguf");
        Tokenizer original;
        using (LoadedModel source = ModelLoader.Load(model))
        {
            original = source.RequireTokenizer();
            GgufExporter.Export(source, gguf, new GgufExportOptions { Type = GgmlType.F16 });
        }

        using (GgufFile f = GgufFile.Open(gguf))
        {
            Assert.Equal("gpt2", f.GetString("tokenizer.ggml.model"));
            Assert.Equal("llama-bpe", f.GetString("tokenizer.ggml.pre"));
            string[] tokens = f.GetArray<string>("tokenizer.ggml.tokens");
            Assert.Equal(128256, tokens.Length);
            Assert.Equal("<|begin_of_text|>", tokens[(int)f.GetInteger("tokenizer.ggml.bos_token_id")]);
            Assert.Equal("<|eot_id|>", tokens[(int)f.GetInteger("tokenizer.ggml.eot_token_id")]);
            Assert.True((bool)f.GetValueOrNull("tokenizer.ggml.add_bos_token")!.Value);
            Assert.True(f.GetArray<string>("tokenizer.ggml.merges").Length > 100_000);
        }

        using LoadedModel back = ModelLoader.Load(gguf);
        Tokenizer read = back.RequireTokenizer();
        string[] texts = File.ReadAllText(Path.Combine(TestPaths.Model(Path.Combine("tokenizers", "llama3")), "ggml-vocab-llama-bpe.gguf.inp"))
            .Split("\n__ggml_vocab_test__\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.True(texts.Length > 20);
        foreach (string text in texts)
        {
            Assert.Equal(original.Encode(text, addSpecialTokens: true), read.Encode(text, addSpecialTokens: true));
        }
    }

    /// <summary>stories260K (tied embedding) given Llama 3's tokenizer, its embedding padded with zero rows to 128,256.</summary>
    private static string StoriesWithLlama3Vocabulary(TempDir dir)
    {
        const int Rows = 128256;
        string model = dir.File("stories-llama3-vocab");
        Directory.CreateDirectory(model);
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Stories260K, "config.json")))!;
        config["vocab_size"] = Rows;
        config["bos_token_id"] = 128000;
        config["eos_token_id"] = 128009;
        File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
        foreach (string f in Directory.GetFiles(TestPaths.Model(Path.Combine("tokenizers", "llama3")), "tokenizer*"))
        {
            File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        }

        using var source = QuantSharp.Formats.SafetensorsFile.Open(Path.Combine(TestPaths.Stories260K, "model.safetensors"));
        using var writer = new QuantSharp.Formats.SafetensorsWriter(model);
        foreach ((string tensor, QuantSharp.Tensors.TensorView view) in source.Tensors)
        {
            if (tensor.EndsWith("embed_tokens.weight", StringComparison.Ordinal))
            {
                float[] padded = new float[Rows * view.Shape[1]];
                view.Bytes.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(padded.AsSpan()));
                writer.Add(tensor, [Rows, view.Shape[1]], padded);
            }
            else
            {
                writer.Add(view);
            }
        }

        writer.Commit(Path.Combine(model, "model.safetensors"));
        return model;
    }
}
