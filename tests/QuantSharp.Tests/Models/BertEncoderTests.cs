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
    public void AnEncoderRefusesToGenerate()
    {
        using LoadedModel loaded = ModelLoader.Load(MiniLmReference.Folder);
        var e = Assert.Throws<QuantSharpException>(() => new InferenceSession(loaded.Model));
        Assert.Contains("encoder", e.Message);
    }
}
