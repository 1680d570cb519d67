using QuantSharp.Kernels;
using QuantSharp.Models;

namespace QuantSharp.Tests.Models;

/// <summary>config.json features of current checkpoints: rope_scaling (honoured or refused), sliding_window, EOS lists.</summary>
public class ConfigFeatureTests
{
    private const string Base = """
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
        "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 1000, "max_position_embeddings": 131072
        """;

    private static ModelConfig Parse(string extra) => ModelConfig.Parse("{" + Base + (extra.Length > 0 ? ", " + extra : "") + "}", "config.json");

    [Fact]
    public void Llama3RopeScalingMatchesTransformersFrequencies()
    {
        // Llama 3.1: head_dim 128, rope_theta 500000, factor 8, low 1, high 4, original context 8192. The expected values are
        // transformers' _compute_llama3_parameters evaluated in double precision: high-frequency pairs keep their frequency
        // (k ≤ 28), low-frequency ones are divided by 8 (k ≥ 35), the pairs between are blended.
        ModelConfig c = Parse("""
            "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
            """);
        RopeScaling s = c.RopeScaling!;
        double InvFreq(int k) => 1.0 / Math.Pow(500000.0, 2.0 * k / 128);
        (int K, double Expected)[] reference =
        [
            (0, 1.0), (20, 0.016560440080994446), (28, 0.0032114459947525913), (29, 0.002166570763503359),
            (30, 0.0013718935677611381), (32, 0.0005248461609929547), (34, 0.00017850781276799638), (35, 9.556212353964683e-05),
            (50, 4.411534674558404e-06), (63, 3.068925988914511e-07),
        ];
        foreach ((int k, double expected) in reference)
        {
            Assert.Equal(expected, s.Apply(InvFreq(k), k), expected * 1e-12);
        }
    }

    [Fact]
    public void LinearRopeScalingDividesEveryFrequency()
    {
        RopeScaling s = Parse("""
            "rope_scaling": {"type": "linear", "factor": 4.0}
            """).RopeScaling!;
        Assert.Equal(0.25, s.Apply(1.0, 0), 1e-15);
        Assert.Equal(0.001 / 4, s.Apply(0.001, 0), 1e-15);
    }

    [Fact]
    public void ScaledRotaryTablesRotateBySmallerAngles()
    {
        var plain = new RotaryEmbedding(8, 8, 10000, 64, RopeStyle.RotateHalf);
        var scaled = new RotaryEmbedding(8, 8, 10000, 64, RopeStyle.RotateHalf, new RopeScaling("linear", 2));
        float[] a = [1, 0, 0, 0, 0, 0, 0, 0];
        float[] b = [1, 0, 0, 0, 0, 0, 0, 0];
        plain.Apply(a, 1, 10);
        scaled.Apply(b, 1, 20);
        Assert.Equal(a, b, (x, y) => Math.Abs(x - y) < 1e-5f);
    }

    [Theory]
    [InlineData("yarn")]
    [InlineData("dynamic")]
    [InlineData("longrope")]
    public void UnsupportedRopeScalingIsRefusedByName(string type)
    {
        var e = Assert.Throws<QuantSharpException>(() => Parse($$"""
            "rope_scaling": {"rope_type": "{{type}}", "factor": 4.0}
            """));
        Assert.Contains($"'{type}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("config.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultRopeScalingIsNone() => Assert.Null(Parse("""
        "rope_scaling": {"rope_type": "default"}
        """).RopeScaling);

    [Fact]
    public void SlidingWindowCapsTheContextWhenUsed()
    {
        Assert.Equal(4096, Parse("\"sliding_window\": 4096").MaxPositions);
        Assert.Equal(131072, Parse("\"sliding_window\": null").MaxPositions);
        Assert.Equal(131072, Parse("\"sliding_window\": 4096, \"use_sliding_window\": false").MaxPositions);
    }

    [Fact]
    public void EosListIsKept() => Assert.Equal([128001, 128008, 128009], Parse("\"eos_token_id\": [128001, 128008, 128009]").EosTokenIds);
}
