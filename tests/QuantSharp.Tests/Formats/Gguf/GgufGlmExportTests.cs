using System.Text.Json.Nodes;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Tests.Models;
using QuantSharp.Tokenizers;

namespace QuantSharp.Tests.Formats.Gguf;

/// <summary>GLM checkpoints (ChatGLM3, GLM-4) written as llama.cpp's <c>chatglm</c> architecture and read back.</summary>
public sealed class GgufGlmExportTests
{
    /// <summary>Token windows for the tiny GLMs (vocabulary 256, RoPE table of 128 positions).</summary>
    internal static int[] TinyTokens(int count) => Enumerable.Range(0, count).Select(i => (int)((i * 7919L + 13) % 253) + 3).ToArray();

    internal static double Perplexity(TransformerModel model, int[] tokens, int windows, int context)
        => PerplexityEvaluator.Evaluate(model, tokens, 1, new PerplexityOptions { Context = context, MaxWindows = windows }).Perplexity;

    [Theory]
    [MemberData(nameof(GlmFixture.Names), MemberType = typeof(GlmFixture))]
    public void AnF32ExportRunsLikeTheCheckpointItCameFrom(string name)
    {
        using var dir = new TempDir();
        string gguf = dir.File("glm.gguf");
        using LoadedModel source = ModelLoader.Load(GlmFixture.Path(name));
        GgufExportReport report = GgufExporter.Export(source, gguf, new GgufExportOptions { Type = GgmlType.F32 });
        Assert.All(report.Tensors, t => Assert.Equal(GgmlType.F32, t.Written));

        using LoadedModel back = ModelLoader.Load(gguf);
        Assert.Equal(GlmSpec.ModelType, back.Model.Config.ModelType);
        Assert.Equal(source.Model.Config.KvHeads, back.Model.Config.KvHeads);
        Assert.Equal(source.Model.Config.RopeTheta, back.Model.Config.RopeTheta, 3);
        Assert.Null(back.Tokenizer);

        int[] tokens = TinyTokens(3 * 63);
        double expected = Perplexity(source.Model, tokens, 3, 64);
        double actual = Perplexity(back.Model, tokens, 3, 64);
        Assert.InRange(actual / expected, 1 - 1e-5, 1 + 1e-5);
        // The random tiny models are far from uniform over 256 tokens (whose perplexity is 256), so a layout mistake would show.
        Assert.True(Math.Abs(Math.Log(expected / 256)) > 1, $"perplexity {expected}");
    }

    [Fact]
    public void TheMetadataIsLlamaCppsChatGlmLayout()
    {
        using var dir = new TempDir();
        string gguf = dir.File("glm4.gguf");
        using (LoadedModel source = ModelLoader.Load(GlmFixture.Path("glm4-tiny")))
        {
            GgufExporter.Export(source, gguf, new GgufExportOptions { Type = GgmlType.Q8_0 });
        }

        using GgufFile f = GgufFile.Open(gguf);
        Assert.Equal("chatglm", f.GetString("general.architecture"));
        Assert.Equal(64, f.GetInteger("chatglm.embedding_length"));
        Assert.Equal(96, f.GetInteger("chatglm.feed_forward_length"));
        Assert.Equal(4, f.GetInteger("chatglm.attention.head_count"));
        Assert.Equal(2, f.GetInteger("chatglm.attention.head_count_kv"));
        Assert.Equal(8, f.GetInteger("chatglm.rope.dimension_count")); // half of the 16-wide heads
        Assert.Equal(10000.0 * 500, f.GetFloat("chatglm.rope.freq_base", 0)); // rope_ratio 500
        Assert.Equal(128, f.GetInteger("chatglm.context_length"));
        Assert.Equal(256, f.GetInteger("chatglm.vocab_size"));
        Assert.Equal(GgufVocabulary.NoVocabularyModelName, f.GetString("tokenizer.ggml.model"));
        Assert.Equal(
            ["attn_norm.weight", "attn_qkv.weight", "attn_qkv.bias", "attn_output.weight", "ffn_norm.weight", "ffn_up.weight", "ffn_down.weight"],
            f.TensorsInOrder.Where(t => t.Name.StartsWith("blk.1.", StringComparison.Ordinal)).Select(t => t.Name["blk.1.".Length..]));
        Assert.Equal([64L, 128L], f.GetTensor("blk.0.attn_qkv.weight").Dimensions);
        Assert.Equal([64L, 192L], f.GetTensor("blk.0.ffn_up.weight").Dimensions);
        Assert.Equal(GgmlType.Q8_0, f.GetTensor("blk.0.ffn_up.weight").Type);
        Assert.Equal(GgmlType.F32, f.GetTensor("blk.0.attn_qkv.bias").Type);
    }

    [Fact]
    public void ChatGlm3sVocabularyIsPaddedToTheEmbeddingRowsAndReadBack()
    {
        using var dir = new TempDir();
        (Tokenizer original, string gguf) = VocabularyFixtures.Export(dir, WithChatGlm3Vocabulary(dir, "chatglm3-tiny"), GgmlType.Q8_0);

        using (GgufFile f = GgufFile.Open(gguf))
        {
            string[] tokens = f.GetArray<string>("tokenizer.ggml.tokens");
            int[] types = f.GetArray<int>("tokenizer.ggml.token_type");
            Assert.Equal(65024, tokens.Length);
            Assert.Equal(("[gMASK]", 3), (tokens[64790], types[64790]));
            Assert.Equal(("sop", 3), (tokens[64792], types[64792]));
            Assert.Equal(("[PAD65000]", 5), (tokens[65000], types[65000]));
            Assert.Equal("chatglm-spm", f.GetString("tokenizer.ggml.pre"));
            Assert.False((bool)f.GetValueOrNull("tokenizer.ggml.add_bos_token")!.Value);
        }

        // Read back, the file tokenizes like tiktoken except on pieces that are whole-piece-only tokens (as llama.cpp does).
        VocabularyFixtures.AssertTokenizesAlike(original, gguf, ["一只可爱的小猫坐在窗台上", "Hello, world! 1234", "<|user|>\n你好<|assistant|>"], addSpecialTokens: false, parseSpecialTokens: true);
    }

    [Fact]
    public void Glm4sTiktokenVocabularyIsWrittenAsGpt2WithMergesRecoveredFromTheRanks()
    {
        using var dir = new TempDir();
        (Tokenizer original, string gguf) = VocabularyFixtures.Export(dir, WithVocabulary(dir, "glm4-tiny", Glm4Vocabulary), GgmlType.Q8_0);

        using (GgufFile f = GgufFile.Open(gguf))
        {
            Assert.Equal("gpt2", f.GetString("tokenizer.ggml.model"));
            Assert.Equal("chatglm-bpe", f.GetString("tokenizer.ggml.pre"));
            string[] tokens = f.GetArray<string>("tokenizer.ggml.tokens");
            int[] types = f.GetArray<int>("tokenizer.ggml.token_type");
            Assert.Equal(151552, tokens.Length);
            Assert.Equal(("[gMASK]", 3), (tokens[151331], types[151331]));
            Assert.Equal(("<|user|>", 3), (tokens[151336], types[151336]));
            Assert.Equal(151336, f.GetInteger("tokenizer.ggml.eot_token_id"));
            Assert.Equal(151329, f.GetInteger("tokenizer.ggml.eos_token_id"));
            // One merge per multi-byte token of the 151,329 ranked ones (151,073), except the 893 whose adjacent byte pairs
            // are no tokens at all (e.g. "ĠåıĤ"): tiktoken emits those only for a piece that is the whole token, which a
            // merge list cannot say (llama.cpp's own converter leaves out 1,072).
            string[] merges = f.GetArray<string>("tokenizer.ggml.merges");
            Assert.Equal(151073, tokens.Take(151329).Count(t => t.Length > 1));
            Assert.Equal(151073 - 893, merges.Length);
            Assert.Equal("Ġ Ġ", merges[0]); // rank 256, the first token above the bytes
        }

        // Read back, the file tokenizes like tiktoken except on pieces that are whole-piece-only tokens (as llama.cpp does).
        VocabularyFixtures.AssertTokenizesAlike(original, gguf, ["一只可爱的小猫坐在窗台上，阳光洒在它的毛上", "Hello, world! 1234  tabs\tand\nnewlines", "[gMASK]<sop><|user|>\n你好<|assistant|>", "  ünïcödé — ∑ 🙂"],
            addSpecialTokens: false, parseSpecialTokens: true);
    }

    /// <summary>ChatGLM3's real tokenizer folder and embedding rows.</summary>
    internal static readonly (string Folder, int Rows) ChatGlm3Vocabulary = (TestPaths.Model("chatglm3-tokenizer"), 65024);

    /// <summary>GLM-4's real tokenizer folder (tiktoken) and embedding rows.</summary>
    internal static readonly (string Folder, int Rows) Glm4Vocabulary = (TestPaths.Model(Path.Combine("tokenizers", "glm4")), 151552);

    internal static string WithChatGlm3Vocabulary(TempDir dir, string name) => WithVocabulary(dir, name, ChatGlm3Vocabulary);

    /// <summary>
    /// The tiny GLM fixture <paramref name="name"/> (THUDM's random weights) given a real tokenizer: its embedding and
    /// output layer padded with zero rows from 256 to the real model's row count, so that a GGUF export carries a real
    /// vocabulary (node-llama-cpp cannot run llama.cpp's <c>no_vocab</c> files) while the first 256 tokens compute
    /// exactly what the fixture computes.
    /// </summary>
    internal static string WithVocabulary(TempDir dir, string name, (string Folder, int Rows) vocabulary)
        => VocabularyFixtures.WithVocabulary(dir, $"{name}-{Path.GetFileName(vocabulary.Folder)}-vocab", GlmFixture.Path(name), vocabulary.Folder, vocabulary.Rows,
            config => config["padded_vocab_size"] = vocabulary.Rows, "word_embeddings.weight", "output_layer.weight");
}
