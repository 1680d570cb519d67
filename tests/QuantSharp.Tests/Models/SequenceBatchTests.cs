using QuantSharp.Models;

namespace QuantSharp.Tests.Models;

/// <summary><see cref="SequenceBatch"/> advances several sessions in one pass; each must get what it would alone.</summary>
public class SequenceBatchTests
{
    public static TheoryData<string, string?> Models => new()
    {
        { "brown-llama", null },
        { "brown-llama", "int4" },
        { "brown-llama", "int8" },
        { "glm-tiny/chatglm3-tiny", null },
        { "glm-tiny/glm4-tiny", "int4" },
    };

    private static LoadedModel Load(string name, string? scheme)
        => ModelLoader.Load(TestPaths.Model(name), scheme is null ? new LoadOptions() : QuantizingLinearProvider.Options(WeightFormat.Parse(scheme)));

    [Theory]
    [MemberData(nameof(Models))]
    public void MixedPrefillChunksAndDecodeRowsMatchSessionsRunAlone(string name, string? scheme)
    {
        using LoadedModel loaded = Load(name, scheme);
        TransformerModel model = loaded.Model;
        int vocab = model.Config.VocabSize;
        var random = new Random(7);
        int[][] prompts = [Ids(random, vocab, 9), Ids(random, vocab, 1), Ids(random, vocab, 23), Ids(random, vocab, 4)];

        // Alone: each prompt in one Forward, then 6 greedy tokens one at a time.
        var aloneTokens = new List<int>[prompts.Length];
        var aloneLogits = new List<float[]>[prompts.Length];
        for (int s = 0; s < prompts.Length; s++)
        {
            using var session = new InferenceSession(model, 64);
            (aloneTokens[s], aloneLogits[s]) = ([], []);
            float[] logits = new float[vocab];
            session.Forward(prompts[s], logits);
            for (int step = 0; step < 6; step++)
            {
                aloneLogits[s].Add((float[])logits.Clone());
                int next = Argmax(logits);
                aloneTokens[s].Add(next);
                session.Forward([next], logits);
            }
        }

        // Batched: prompts enter in chunks of at most 5 tokens while the others decode, all in shared steps.
        var sessions = prompts.Select(_ => new InferenceSession(model, 64, maxBatch: 1)).ToArray();
        try
        {
            var batch = new SequenceBatch(model, maxSequences: 4, maxTokens: 20);
            int[] fed = new int[prompts.Length];
            var tokens = new List<int>[prompts.Length];
            var logitsSeen = new List<float[]>[prompts.Length];
            for (int s = 0; s < prompts.Length; s++)
            {
                (tokens[s], logitsSeen[s]) = ([], []);
            }

            float[] rows = new float[4 * vocab];
            while (tokens.Any(t => t.Count < 6))
            {
                var active = new List<InferenceSession>();
                var ids = new List<int>();
                var counts = new List<int>();
                var owners = new List<int>();
                for (int s = 0; s < prompts.Length; s++)
                {
                    if (fed[s] < prompts[s].Length)
                    {
                        int n = Math.Min(5, prompts[s].Length - fed[s]);
                        ids.AddRange(prompts[s].AsSpan(fed[s], n).ToArray());
                        counts.Add(n);
                        fed[s] += n;
                    }
                    else if (tokens[s].Count < 6)
                    {
                        ids.Add(tokens[s][^1]);
                        counts.Add(1);
                    }
                    else
                    {
                        continue;
                    }

                    active.Add(sessions[s]);
                    owners.Add(s);
                }

                batch.Forward(active.ToArray(), ids.ToArray(), counts.ToArray(), rows);
                for (int i = 0; i < owners.Count; i++)
                {
                    int s = owners[i];
                    if (fed[s] < prompts[s].Length)
                    {
                        continue;
                    }

                    float[] row = rows.AsSpan(i * vocab, vocab).ToArray();
                    logitsSeen[s].Add(row);
                    tokens[s].Add(Argmax(row));
                }
            }

            for (int s = 0; s < prompts.Length; s++)
            {
                Assert.Equal(aloneTokens[s], tokens[s]);
                // Dense weights: the same float math in another order. Packed weights: a decode row (MatVec) and a batch
                // row (MatMul) may quantize activations differently (per-row int8 vs per-block), hence the wider bound.
                float tolerance = scheme is null ? 1e-3f : 2e-2f;
                for (int step = 0; step < 6; step++)
                {
                    float scale = aloneLogits[s][step].Max(Math.Abs);
                    for (int v = 0; v < vocab; v++)
                    {
                        Assert.True(Math.Abs(aloneLogits[s][step][v] - logitsSeen[s][step][v]) <= tolerance * scale + 1e-4f,
                            $"{name} {scheme}: sequence {s} step {step} logit {v}: alone {aloneLogits[s][step][v]}, batched {logitsSeen[s][step][v]}");
                    }
                }

                Assert.Equal(prompts[s].Length + 6, sessions[s].Position + 1);
            }
        }
        finally
        {
            foreach (InferenceSession session in sessions)
            {
                session.Dispose();
            }
        }
    }

    [Fact]
    public void RejectsBadSteps()
    {
        using LoadedModel loaded = Load("brown-llama", null);
        using var a = new InferenceSession(loaded.Model, 8, maxBatch: 1);
        using var b = new InferenceSession(loaded.Model, 8, maxBatch: 1);
        var batch = new SequenceBatch(loaded.Model, 2, 10);
        float[] logits = new float[2 * loaded.Model.Config.VocabSize];
        Assert.Throws<ArgumentException>(() => batch.Forward([a, a], [1, 2], [1, 1], logits));
        Assert.Throws<ArgumentException>(() => batch.Forward([a, b], [1, 2, 3], [1, 1], logits));
        Assert.Throws<ArgumentException>(() => batch.Forward([a, b], [1, 2], [2, 0], logits));
        var ex = Assert.Throws<QuantSharpException>(() => batch.Forward([a, b], [1, 99999], [1, 1], logits));
        Assert.Contains("99999", ex.Message);
        batch.Forward([a, b], [1, 2, 3, 4, 5, 6, 7, 8, 1], [8, 1], logits);
        ex = Assert.Throws<QuantSharpException>(() => batch.Forward([a, b], [1, 2], [1, 1], logits));
        Assert.Contains("context is full", ex.Message);
        Assert.Equal(8, a.Position);
        Assert.Equal(1, b.Position);
    }

    private static int[] Ids(Random random, int vocab, int n) => Enumerable.Range(0, n).Select(_ => random.Next(3, vocab)).ToArray();

    private static int Argmax(float[] v) => Array.IndexOf(v, v.Max());
}
