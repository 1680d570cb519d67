using System.Text.Json;
using QuantSharp.Kernels;
using QuantSharp.Models;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Models;

/// <summary>The C# GLM forward pass against THUDM's own code on chatglm3-tiny and glm4-tiny (expected.json).</summary>
public sealed class GlmReferenceTests(ITestOutputHelper output)
{
    private const double LogitTolerance = 1e-4;   // relative to max |logit|
    private const double HiddenTolerance = 1e-4;  // relative to the vector's max |value|

    [Theory]
    [MemberData(nameof(GlmFixture.Names), MemberType = typeof(GlmFixture))]
    public void LoadsAsGlm(string name)
    {
        using LoadedModel loaded = ModelLoader.Load(GlmFixture.Path(name));
        ModelConfig c = loaded.Model.Config;
        Assert.Equal((64, 4, 2, 16, 96, 256, 128, 2), (c.HiddenSize, c.Heads, c.KvHeads, c.HeadDim, c.IntermediateSize, c.VocabSize, c.MaxPositions, c.Layers));
        Assert.Equal(name == "glm4-tiny" ? 5_000_000.0 : 10_000.0, c.RopeTheta);
        Assert.Equal(name == "glm4-tiny" ? 1.5625e-07f : 1e-05f, c.NormEps);
        ArchitectureSpec spec = loaded.Model.Spec;
        Assert.Equal("transformer.encoder.layers.1.", spec.LayerPrefix(1));
        Assert.Equal(RopeStyle.InterleavedPartial, spec.Rope);
        Assert.True(spec.QkvBias);
        Assert.All(loaded.Model.Blocks, b => Assert.Equal((128, 64), (b.Qkv!.Rows, b.Qkv.Cols)));
        Assert.All(loaded.Model.Blocks, b => Assert.Equal((192, 64), (b.GateUp!.Rows, b.GateUp.Cols)));
    }

    [Theory]
    [MemberData(nameof(GlmFixture.Names), MemberType = typeof(GlmFixture))]
    public void PrefillLogits_MatchReference(string name)
    {
        JsonElement e = GlmFixture.Expected(name);
        int[] ids = GlmFixture.Ints(e.GetProperty("input_ids"));
        using LoadedModel loaded = ModelLoader.Load(GlmFixture.Path(name));
        int vocab = loaded.Model.Config.VocabSize;
        using var session = new InferenceSession(loaded.Model, ids.Length);
        float[] logits = new float[ids.Length * vocab];
        session.Forward(ids, logits);

        float[] last = logits.AsSpan((ids.Length - 1) * vocab, vocab).ToArray();
        double lastDiff = GlmFixture.AssertClose(GlmFixture.Floats(e.GetProperty("logits_last_position")), last, LogitTolerance, "last-position logits");
        float[][] first8 = GlmFixture.Rows(e.GetProperty("logits_first8_every_position"));
        int[] argmax = GlmFixture.Ints(e.GetProperty("argmax_every_position"));

        // Eight values of a row can all be small, so they are held to the tolerance of the whole logit vector's scale.
        double scale = GlmFixture.Floats(e.GetProperty("logits_last_position")).Max(Math.Abs);
        double first8Diff = 0;
        for (int t = 0; t < ids.Length; t++)
        {
            ReadOnlySpan<float> row = logits.AsSpan(t * vocab, vocab);
            double d = GlmFixture.MaxAbsDiff(first8[t], row[..8]);
            Assert.True(d <= LogitTolerance * scale, $"position {t} first 8 logits: max |Δ| {d:E3}");
            first8Diff = Math.Max(first8Diff, d);
            Assert.Equal(argmax[t], System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row));
        }

        output.WriteLine($"{name}: last-position logits max |Δ| {lastDiff:E3}, first-8 logits (all positions) max |Δ| {first8Diff:E3}");
    }

    [Theory]
    [MemberData(nameof(GlmFixture.Names), MemberType = typeof(GlmFixture))]
    public void HiddenStates_MatchReference(string name)
    {
        JsonElement e = GlmFixture.Expected(name);
        int[] ids = GlmFixture.Ints(e.GetProperty("input_ids"));
        using LoadedModel loaded = ModelLoader.Load(GlmFixture.Path(name));
        var encoder = new TextEncoder(loaded.Model);
        int last = ids.Length - 1;

        float[][] expectedLast = GlmFixture.Rows(e.GetProperty("hidden_states_last_position"));
        Assert.Equal(loaded.Model.Config.Layers + 1, expectedLast.Length);
        for (int i = 0; i < expectedLast.Length; i++)
        {
            float[,] hs = encoder.Encode(ids, new TextEncoderOptions { Layer = i });
            double d = GlmFixture.AssertClose(expectedLast[i], GlmFixture.Row(hs, last), HiddenTolerance, $"hidden_states[{i}] at the last position");
            output.WriteLine($"{name}: hidden_states[{i}] last position max |Δ| {d:E3}");
        }

        float[,] minus2 = encoder.Encode(ids, new TextEncoderOptions { Layer = -2 });
        float[][] expectedMinus2 = GlmFixture.Rows(e.GetProperty("hidden_states_minus2_every_position"));
        Assert.Equal(ids.Length, minus2.GetLength(0));
        double worst = 0;
        for (int t = 0; t < ids.Length; t++)
        {
            worst = Math.Max(worst, GlmFixture.AssertClose(expectedMinus2[t], GlmFixture.Row(minus2, t), HiddenTolerance, $"hidden_states[-2] at position {t}"));
        }

        output.WriteLine($"{name}: hidden_states[-2] every position max |Δ| {worst:E3}");

        // hidden_states[-1] is GLM's last block output before the final norm; the norm of it is the reference's
        // final_layernorm output.
        float[,] minus1 = encoder.Encode(ids, new TextEncoderOptions { Layer = -1 });
        Assert.Equal(GlmFixture.Row(encoder.Encode(ids, new TextEncoderOptions { Layer = 2 }), last), GlmFixture.Row(minus1, last));
        float[] normed = new float[64];
        RmsNorm.Apply(GlmFixture.Row(minus1, last), loaded.Model.FinalNorm, loaded.Model.Config.NormEps, normed);
        GlmFixture.AssertClose(GlmFixture.Floats(e.GetProperty("final_layernorm_output_last_position")), normed, HiddenTolerance, "final_layernorm output");
    }

    [Theory]
    [MemberData(nameof(GlmFixture.Names), MemberType = typeof(GlmFixture))]
    public void LeftPaddedTextEncoderCase_MatchesReference(string name)
    {
        JsonElement p = GlmFixture.Expected(name).GetProperty("padded_text_encoder_case");
        int[] padded = GlmFixture.Ints(p.GetProperty("input_ids"));
        int[] mask = GlmFixture.Ints(p.GetProperty("attention_mask"));
        int pads = mask.Count(m => m == 0);
        int[] ids = padded[pads..];
        Assert.All(padded[..pads], id => Assert.Equal(0, id));
        using LoadedModel loaded = ModelLoader.Load(GlmFixture.Path(name));
        var encoder = new TextEncoder(loaded.Model);

        float[,] minus2 = encoder.Encode(ids, new TextEncoderOptions { Layer = -2, PadToLength = padded.Length, PadId = 0 });
        float[][] expected = GlmFixture.Rows(p.GetProperty("hidden_states_minus2_every_position"));
        Assert.Equal(padded.Length, minus2.GetLength(0));
        double worstPad = 0, worstReal = 0;
        for (int t = 0; t < padded.Length; t++)
        {
            double d = GlmFixture.AssertClose(expected[t], GlmFixture.Row(minus2, t), HiddenTolerance, $"padded hidden_states[-2] at position {t}");
            if (t < pads)
            {
                worstPad = Math.Max(worstPad, d);
            }
            else
            {
                worstReal = Math.Max(worstReal, d);
            }
        }

        float[,] minus1 = encoder.Encode(ids, new TextEncoderOptions { Layer = -1, PadToLength = padded.Length, PadId = 0 });
        float[] pooled = GlmFixture.Row(minus1, padded.Length - 1);
        double pooledDiff = GlmFixture.AssertClose(GlmFixture.Floats(p.GetProperty("hidden_states_minus1_last_position_pooled")), pooled, HiddenTolerance, "pooled hidden_states[-1]");
        float[] normed = new float[pooled.Length];
        RmsNorm.Apply(pooled, loaded.Model.FinalNorm, loaded.Model.Config.NormEps, normed);
        GlmFixture.AssertClose(GlmFixture.Floats(p.GetProperty("final_layernorm_output_last_position")), normed, HiddenTolerance, "padded final_layernorm output");
        output.WriteLine($"{name}: padded hs[-2] max |Δ| pads {worstPad:E3}, real {worstReal:E3}; pooled {pooledDiff:E3}");

        // Real rows are those of the unpadded run (position ids restart at 0 after the pads, pads are never attended).
        float[,] unpadded = encoder.Encode(ids, new TextEncoderOptions { Layer = -2 });
        for (int t = 0; t < ids.Length; t++)
        {
            GlmFixture.AssertClose(GlmFixture.Row(unpadded, t), GlmFixture.Row(minus2, pads + t), 1e-5, $"padded vs unpadded row {t}");
        }
    }

    [Theory]
    [MemberData(nameof(GlmFixture.Names), MemberType = typeof(GlmFixture))]
    public void GreedyDecode_ReproducesReferenceTokens(string name)
    {
        JsonElement g = GlmFixture.Expected(name).GetProperty("greedy");
        int[] prompt = GlmFixture.Ints(GlmFixture.Expected(name).GetProperty("input_ids"));
        int[] expected = GlmFixture.Ints(g.GetProperty("new_token_ids"));
        using LoadedModel loaded = ModelLoader.Load(GlmFixture.Path(name));
        int[] generated = new Generator(loaded.Model).Generate(prompt, new SamplingOptions { MaxTokens = expected.Length, StopAtEos = false }).ToArray();
        Assert.Equal(expected, generated);

        // Each decode step's top-5 logits, through the KV cache as the reference fed them.
        using var session = new InferenceSession(loaded.Model, prompt.Length + expected.Length);
        float[] logits = new float[loaded.Model.Config.VocabSize];
        session.Forward(prompt, logits);
        double worst = 0;
        int step = 0;
        foreach (JsonElement s in g.GetProperty("steps").EnumerateArray())
        {
            int[] top = GlmFixture.Ints(s.GetProperty("top5_ids"));
            float[] topLogits = GlmFixture.Floats(s.GetProperty("top5_logits"));
            float[] ours = top.Select(id => logits[id]).ToArray();
            worst = Math.Max(worst, GlmFixture.AssertClose(topLogits, ours, LogitTolerance, $"step {step} top-5 logits"));
            if (step + 1 < expected.Length)
            {
                Assert.Equal(GlmFixture.Ints(s.GetProperty("position_ids_fed"))[^1] + 1, session.Position);
                session.Forward([expected[step]], logits);
            }

            step++;
        }

        output.WriteLine($"{name}: greedy tokens identical; decode-step top-5 logits max |Δ| {worst:E3}");
    }
}
