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
        string llama3 = TestPaths.Model(Path.Combine("tokenizers", "llama3"));
        string model = VocabularyFixtures.WithVocabulary(dir, "stories-llama3-vocab", TestPaths.Stories260K, llama3, 128256, config =>
        {
            config["vocab_size"] = 128256;
            config["bos_token_id"] = 128000;
            config["eos_token_id"] = 128009;
        }, "embed_tokens.weight");
        (Tokenizer original, string gguf) = VocabularyFixtures.Export(dir, model, GgmlType.F16);

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

        string[] texts = File.ReadAllText(Path.Combine(llama3, "ggml-vocab-llama-bpe.gguf.inp")).Split("\n__ggml_vocab_test__\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.True(texts.Length > 20);
        VocabularyFixtures.AssertTokenizesAlike(original, gguf, texts, addSpecialTokens: true, parseSpecialTokens: false);
    }
}
