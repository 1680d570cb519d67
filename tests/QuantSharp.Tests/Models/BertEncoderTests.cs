using QuantSharp.Kernels;
using QuantSharp.Models;

namespace QuantSharp.Tests.Models;

/// <summary>all-MiniLM-L6-v2 (BERT) against ONNX Runtime and the model's own .NET package.</summary>
public sealed class BertEncoderTests
{
    private static MiniLmReference Ref => MiniLmReference.Instance;

    [Fact]
    public void InputIdsOfAllFortySentencesMatch()
    {
        using LoadedModel loaded = ModelLoader.Load(MiniLmReference.Folder);
        using var encoder = SentenceEncoder.Create(loaded);
        for (int i = 0; i < Ref.Texts.Count; i++)
        {
            Assert.Equal(Ref.Ids[i], encoder.Tokenize(Ref.Texts[i]));
        }
    }

    [Fact]
    public void LastHiddenStateMatchesOnnxRuntimeWithin1e4()
    {
        using LoadedModel loaded = ModelLoader.Load(MiniLmReference.Folder);
        using var encoder = new SentenceEncoder(loaded.Model, loaded.Tokenizer, new SentencePooling { Mode = PoolingMode.Mean });
        int d = encoder.Dimension;
        for (int s = 0; s < Ref.LastHiddenStates.Count; s++)
        {
            float[][] expected = Ref.LastHiddenStates[s];
            float[]? got = null;
            encoder.Run([Ref.Ids[s]], (_, lengths, index, states) =>
            {
                if (index == loaded.Model.Config.Layers)
                {
                    got = states[..(lengths[0] * d)].ToArray();
                }

                return true;
            });
            Assert.NotNull(got);
            Assert.Equal(expected.Length * d, got!.Length);
            double max = 0;
            for (int t = 0; t < expected.Length; t++)
            {
                for (int c = 0; c < d; c++)
                {
                    max = Math.Max(max, Math.Abs(expected[t][c] - got[(t * d) + c]));
                }
            }

            Assert.True(max <= 1e-4, $"sentence {s}: max |Δ| = {max:E2}");
        }
    }

    [Fact]
    public void SentenceEmbeddingsOfAllFortyMatchWithin1e5AndBatchEqualsSingle()
    {
        using LoadedModel loaded = ModelLoader.Load(MiniLmReference.Folder);
        using var batched = SentenceEncoder.Create(loaded);
        using var single = SentenceEncoder.Create(loaded, new SentenceEncoderOptions { BatchSize = 1 });
        Assert.True(batched.Pooling.Normalize);
        Assert.Equal(PoolingMode.Mean, batched.Pooling.Mode);
        float[][] a = batched.Embed(Ref.Texts);
        float[][] b = single.Embed(Ref.Texts);
        double worst = 0, worstBatch = 0;
        for (int i = 0; i < Ref.Texts.Count; i++)
        {
            for (int c = 0; c < a[i].Length; c++)
            {
                worst = Math.Max(worst, Math.Abs(a[i][c] - Ref.Embeddings[i][c]));
                worst = Math.Max(worst, Math.Abs(b[i][c] - Ref.Embeddings[i][c]));
                worstBatch = Math.Max(worstBatch, Math.Abs(a[i][c] - b[i][c]));
            }
        }

        Assert.True(worst <= 1e-5, $"max |Δ| against the reference = {worst:E2}");
        Assert.True(worstBatch <= 1e-6, $"packed batch vs one text per forward: max |Δ| = {worstBatch:E2}");
    }

    [Fact]
    public void GeluMatchesItsScalarReferenceAndKnownValues()
    {
        float[] x = [.. Enumerable.Range(-800, 1601).Select(i => i / 100f)];
        float[] y = (float[])x.Clone();
        Gelu.Apply(y);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.True(Math.Abs(y[i] - Gelu.Reference(x[i])) <= 1e-6 * Math.Max(1, Math.Abs(x[i])), $"x = {x[i]}");
        }

        // x·Φ(x) from the normal CDF: Φ(1) = 0.841344746, Φ(−0.5) = 0.308537539, Φ(2.5) = 0.993790335.
        Assert.Equal(0.841344746, Gelu.Reference(1f), 6);
        Assert.Equal(-0.5 * 0.308537539, Gelu.Reference(-0.5f), 6);
        Assert.Equal(2.5 * 0.993790335, Gelu.Reference(2.5f), 6);
    }

    [Fact]
    public void LayerNormMatchesADoublePrecisionReference()
    {
        var random = new Random(3);
        float[] x = [.. Enumerable.Range(0, 384).Select(_ => (float)((random.NextDouble() * 8) - 3))];
        float[] w = [.. Enumerable.Range(0, 384).Select(_ => (float)random.NextDouble())];
        float[] b = [.. Enumerable.Range(0, 384).Select(_ => (float)(random.NextDouble() - 0.5))];
        float[] y = new float[384];
        LayerNorm.Apply(x, w, b, 1e-12f, y);
        double mean = x.Average(v => (double)v);
        double variance = x.Average(v => (v - mean) * (v - mean));
        for (int i = 0; i < x.Length; i++)
        {
            double expected = ((x[i] - mean) / Math.Sqrt(variance + 1e-12) * w[i]) + b[i];
            Assert.True(Math.Abs(expected - y[i]) <= 2e-6, $"i = {i}");
        }
    }

    [Fact]
    public void AnEncoderRefusesToGenerate()
    {
        using LoadedModel loaded = ModelLoader.Load(MiniLmReference.Folder);
        var e = Assert.Throws<QuantSharpException>(() => new InferenceSession(loaded.Model));
        Assert.Contains("encoder", e.Message);
    }
}
