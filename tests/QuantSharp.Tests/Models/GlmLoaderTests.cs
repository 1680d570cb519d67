using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Formats;
using QuantSharp.Models;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Models;

/// <summary>GLM naming forms, bad GLM configs and checkpoints, and the AWQ input-sharing groups of the GLM spec.</summary>
public sealed class GlmLoaderTests
{
    private static string EditConfig(string json, Action<JsonObject> edit)
    {
        JsonObject root = JsonNode.Parse(json)!.AsObject();
        edit(root);
        return root.ToJsonString();
    }

    private static QuantSharpException LoadFails(string checkpoint)
        => Assert.Throws<QuantSharpException>(() => ModelLoader.Load(checkpoint).Dispose());

    [Theory]
    [MemberData(nameof(GlmFixture.Names), MemberType = typeof(GlmFixture))]
    public void BareChatGlmModelNames_LoadWithIdenticalLogits(string name)
    {
        using var dir = new TempDir();
        GlmFixture.CopyCheckpoint(name, dir,
            config => EditConfig(config, c => c["architectures"] = new JsonArray("ChatGLMForConditionalGeneration")),
            tensor => tensor.StartsWith("transformer.", StringComparison.Ordinal) ? tensor["transformer.".Length..] : tensor);
        int[] ids = [.. Enumerable.Range(1, 20)];
        using LoadedModel bare = ModelLoader.Load(dir.Path);
        using LoadedModel prefixed = ModelLoader.Load(GlmFixture.Path(name));
        Assert.Equal("encoder.layers.0.", bare.Model.Spec.LayerPrefix(0));
        Assert.Equal("embedding.word_embeddings.weight", bare.Model.Spec.Embedding);
        Assert.Equal(GlmFixture.LastLogits(prefixed.Model, ids), GlmFixture.LastLogits(bare.Model, ids));
    }

    [Fact]
    public void HeadsNotDividingHiddenSize_ClearError()
    {
        using var dir = new TempDir();
        GlmFixture.CopyCheckpoint("chatglm3-tiny", dir, config => EditConfig(config, c => c["num_attention_heads"] = 6));
        QuantSharpException e = LoadFails(dir.Path);
        Assert.Contains("hidden_size 64 is not divisible by num_attention_heads 6", e.Message);
    }

    [Fact]
    public void GroupsNotDividingHeads_ClearError()
    {
        using var dir = new TempDir();
        GlmFixture.CopyCheckpoint("glm4-tiny", dir, config => EditConfig(config, c => c["multi_query_group_num"] = 3));
        QuantSharpException e = LoadFails(dir.Path);
        Assert.Contains("num_attention_heads 4 is not a multiple of multi_query_group_num 3", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Theory]
    [InlineData("transformer.encoder.layers.1.self_attention.query_key_value.weight")]
    [InlineData("transformer.encoder.layers.0.mlp.dense_h_to_4h.weight")]
    public void MissingFusedTensor_ClearError(string dropped)
    {
        using var dir = new TempDir();
        GlmFixture.CopyCheckpoint("chatglm3-tiny", dir, renameTensor: t => t == dropped ? null : t);
        QuantSharpException e = LoadFails(dir.Path);
        Assert.Contains("missing required tensors", e.Message);
        Assert.Contains(dropped, e.Message);
    }

    [Fact]
    public void MissingQkvBias_ClearError()
    {
        using var dir = new TempDir();
        const string dropped = "transformer.encoder.layers.0.self_attention.query_key_value.bias";
        GlmFixture.CopyCheckpoint("chatglm3-tiny", dir, renameTensor: t => t == dropped ? null : t);
        Assert.Contains($"'{dropped}' is missing", LoadFails(dir.Path).Message);
    }

    [Fact]
    public void FusedTensorOfWrongShape_NamesExpectedShape()
    {
        using var dir = new TempDir();

        // 4 groups make query_key_value (4 + 2·4)·16 = 192 rows; the file has 128.
        GlmFixture.CopyCheckpoint("chatglm3-tiny", dir, config => EditConfig(config, c => c["multi_query_group_num"] = 4));
        QuantSharpException e = LoadFails(dir.Path);
        Assert.Matches(@"query_key_value\.(bias' has shape \[128\], expected \[192\]|weight' is \[128, 64\], expected \[192, 64\])", e.Message);
    }

    [Theory]
    [InlineData("rmsnorm", false, "LayerNorm")]
    [InlineData("apply_residual_connection_post_layernorm", true, "residual")]
    [InlineData("add_bias_linear", true, "biases")]
    [InlineData("multi_query_attention", false, "multi_query_attention")]
    [InlineData("post_layer_norm", false, "final layer norm")]
    public void UnsupportedSwitch_ClearError(string field, bool value, string expected)
    {
        using var dir = new TempDir();
        GlmFixture.CopyCheckpoint("chatglm3-tiny", dir, config => EditConfig(config, c => c[field] = value));
        QuantSharpException e = LoadFails(dir.Path);
        Assert.Contains(field, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void FirstGenerationChatGlm_ClearError()
    {
        using var dir = new TempDir();
        GlmFixture.CopyCheckpoint("chatglm3-tiny", dir, config => EditConfig(config, c => c["position_encoding_2d"] = true));
        Assert.Contains("ChatGLM-6B", LoadFails(dir.Path).Message);
    }

    [Fact]
    public void InputGroups_NameTheFusedSlices()
    {
        using LoadedModel loaded = ModelLoader.Load(GlmFixture.Path("glm4-tiny"));
        ArchitectureSpec spec = loaded.Model.Spec;
        string p = "transformer.encoder.layers.1.";
        IReadOnlyList<InputGroup> groups = spec.InputGroups(1, loaded.Model.Config);
        Assert.Equal(4, groups.Count);
        Assert.Equal((p + "input_layernorm.weight", p + "self_attention.query_key_value.weight", (ValueTuple<int, int>?)null), (groups[0].Producer, Assert.Single(groups[0].Consumers), groups[0].ProducerRows));
        Assert.Equal((p + "self_attention.query_key_value.weight", p + "self_attention.dense.weight", (ValueTuple<int, int>?)(96, 32)), (groups[1].Producer, Assert.Single(groups[1].Consumers), groups[1].ProducerRows));
        Assert.Equal((p + "post_attention_layernorm.weight", p + "mlp.dense_h_to_4h.weight", (ValueTuple<int, int>?)null), (groups[2].Producer, Assert.Single(groups[2].Consumers), groups[2].ProducerRows));
        Assert.Equal((p + "mlp.dense_h_to_4h.weight", p + "mlp.dense_4h_to_h.weight", (ValueTuple<int, int>?)(96, 96)), (groups[3].Producer, Assert.Single(groups[3].Consumers), groups[3].ProducerRows));
    }

    /// <summary>
    /// The groups are what AWQ folds scales through, so check that each fold leaves the model's function unchanged:
    /// scale the producer (norm weight, or the named rows of the fused producer with their bias) by s and the consumer's
    /// input columns by 1/s. For query_key_value → dense, a V channel feeds the dense columns of every query head of its
    /// group (GQA), so the 32 V rows map onto 64 dense columns.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void InputGroupFolds_PreserveLogits(int groupIndex)
    {
        string path = GlmFixture.Path("chatglm3-tiny");
        using LoadedModel loaded = ModelLoader.Load(path);
        ModelConfig config = loaded.Model.Config;
        int[] ids = [.. Enumerable.Range(1, 20)];
        float[] reference = GlmFixture.LastLogits(loaded.Model, ids);

        using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(path);
        var tensors = source.Tensors.ToDictionary(t => t.Key, t => (Shape: t.Value.Shape, Values: t.Value.ToFloatArray()));
        InputGroup g = loaded.Model.Spec.InputGroups(1, config)[groupIndex];
        string consumer = Assert.Single(g.Consumers);
        int cols = (int)tensors[consumer].Shape[1];
        (int start, int count) = g.ProducerRows ?? (0, cols);
        var random = new Random(7);
        float[] s = [.. Enumerable.Range(0, count).Select(_ => (float)Math.Pow(2, random.Next(-2, 3)))]; // powers of two: exact
        int heads = config.Heads, perGroup = config.Heads / config.KvHeads, d = config.HeadDim;
        int SourceIndex(int col) => count == cols ? col : (col / d / perGroup * d) + (col % d); // dense column → V channel

        float[] producer = tensors[g.Producer!].Values;
        if (g.ProducerRows is null)
        {
            for (int i = 0; i < count; i++)
            {
                producer[i] *= s[i];
            }
        }
        else
        {
            int producerCols = (int)tensors[g.Producer!].Shape[1];
            for (int r = 0; r < count; r++)
            {
                for (int c = 0; c < producerCols; c++)
                {
                    producer[(start + r) * producerCols + c] *= s[r];
                }
            }

            string bias = ArchitectureSpec.BiasOf(g.Producer!);
            if (tensors.TryGetValue(bias, out var b))
            {
                for (int r = 0; r < count; r++)
                {
                    b.Values[start + r] *= s[r];
                }
            }
        }

        float[] w = tensors[consumer].Values;
        int rows = (int)tensors[consumer].Shape[0];
        if (count != cols)
        {
            Assert.Equal((config.KvHeads * d, heads * d), (count, cols));
        }

        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                w[r * cols + c] /= s[SourceIndex(c)];
            }
        }

        using var folded = new MemoryWeightSource(tensors.ToDictionary(t => t.Key, t => TensorView.FromFloats(t.Key, t.Value.Shape, t.Value.Values)));
        using TransformerModel model = TransformerModel.Create(config, folded, new DenseLinearProvider(folded));
        float[] logits = GlmFixture.LastLogits(model, ids);
        GlmFixture.AssertClose(reference, logits, 1e-4, $"logits after folding group {groupIndex} ({g.Producer} → {consumer})");
    }

    private sealed class MemoryWeightSource(Dictionary<string, TensorView> tensors) : IWeightSource
    {
        public string Location => "(memory)";

        public IReadOnlyDictionary<string, TensorView> Tensors => tensors;

        public IReadOnlyDictionary<string, string> Metadata { get; } = new Dictionary<string, string>();

        public void Dispose()
        {
        }
    }
}
