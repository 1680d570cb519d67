using System.Diagnostics;
using System.Numerics.Tensors;
using QuantSharp.Models;

namespace QuantSharp.Evaluation;

/// <summary>How closely a quantized encoder reproduces its reference on the same texts.</summary>
/// <param name="Texts">Texts compared.</param>
/// <param name="CosineMean">Mean cosine similarity between the two embeddings of each text.</param>
/// <param name="CosineP1">1st percentile of those cosines.</param>
/// <param name="CosineMin">Smallest cosine.</param>
/// <param name="RecallAt10">Mean over texts of |N₁₀(quantized) ∩ N₁₀(reference)| / 10, N₁₀ a text's 10 nearest other texts by cosine.</param>
/// <param name="LayerRelativeError">Per hidden state (0 = embeddings): ‖H_q − H_ref‖ / ‖H_ref‖ over all tokens.</param>
/// <param name="PairOrder">Fraction of (paraphrase, unrelated) pair combinations in which the paraphrase pair's cosine
/// stays above the unrelated pair's under the quantized model; null when no pairs were given.</param>
/// <param name="ReferenceSeconds">Encoding time of the reference model (all texts).</param>
/// <param name="CandidateSeconds">Encoding time of the quantized model.</param>
public sealed record EncoderFidelityResult(int Texts, double CosineMean, double CosineP1, double CosineMin, double RecallAt10,
    IReadOnlyList<double> LayerRelativeError, double? PairOrder, double ReferenceSeconds, double CandidateSeconds);

/// <summary>Pairs of text indices: paraphrases (should be close) and unrelated pairs (should be far).</summary>
public sealed record TextPairs(IReadOnlyList<(int A, int B)> Paraphrases, IReadOnlyList<(int A, int B)> Unrelated);

/// <summary>
/// Compares a quantized encoder with its reference on the same token sequences: cosine of the sentence embeddings,
/// neighbour agreement (recall@10 of each text's nearest neighbours among all texts), the relative L2 error of every
/// hidden state, and the ranking of paraphrase over unrelated pairs. Both models run the same length-sorted batches.
/// </summary>
public static class EncoderFidelity
{
    /// <summary>Neighbours compared per text.</summary>
    public const int Neighbours = 10;

    /// <summary>Runs both encoders over <paramref name="sequences"/> and compares them.</summary>
    /// <exception cref="QuantSharpException">Fewer than two texts, or encoders of different widths or depths.</exception>
    public static EncoderFidelityResult Compare(SentenceEncoder reference, SentenceEncoder candidate, IReadOnlyList<int[]> sequences, TextPairs? pairs = null, Action<int, int>? progress = null)
    {
        if (sequences.Count < 2)
        {
            throw new QuantSharpException($"fidelity needs at least 2 texts, got {sequences.Count}");
        }

        if (reference.Dimension != candidate.Dimension || reference.HiddenStateIndex != candidate.HiddenStateIndex)
        {
            throw new QuantSharpException($"the two models differ in shape (dimension {reference.Dimension} vs {candidate.Dimension}, hidden state {reference.HiddenStateIndex} vs {candidate.HiddenStateIndex})");
        }

        int n = sequences.Count;
        float[][] refEmb = new float[n][], candEmb = new float[n][];
        var layerDiff = new List<double>();
        var layerNorm = new List<double>();
        double refSeconds = 0, candSeconds = 0;
        int[] order = [.. Enumerable.Range(0, n).OrderByDescending(i => sequences[i].Length)];
        int batch = reference.BatchSize;
        for (int first = 0; first < n; first += batch)
        {
            int[] idx = order[first..Math.Min(n, first + batch)];
            List<int[]> chunk = [.. idx.Select(i => sequences[i])];
            var refStates = new List<float[]>();
            var clock = Stopwatch.StartNew();
            reference.Run(chunk, (b, lengths, index, states) =>
            {
                refStates.Add(states.ToArray());
                if (index == reference.HiddenStateIndex)
                {
                    Scatter(reference.PoolPacked(states, lengths), b, idx, refEmb);
                }

                return true;
            });
            refSeconds += clock.Elapsed.TotalSeconds;
            clock.Restart();
            candidate.Run(chunk, (b, lengths, index, states) =>
            {
                while (layerDiff.Count <= index)
                {
                    layerDiff.Add(0);
                    layerNorm.Add(0);
                }

                float[] r = refStates[index];
                layerNorm[index] += TensorPrimitives.SumOfSquares(r);
                float[] diff = new float[r.Length];
                TensorPrimitives.Subtract(states[..r.Length], r, diff);
                layerDiff[index] += TensorPrimitives.SumOfSquares(diff);
                if (index == candidate.HiddenStateIndex)
                {
                    Scatter(candidate.PoolPacked(states, lengths), b, idx, candEmb);
                }

                return true;
            });
            candSeconds += clock.Elapsed.TotalSeconds;
            progress?.Invoke(Math.Min(n, first + batch), n);
        }

        double[] cos = [.. Enumerable.Range(0, n).Select(i => (double)TensorPrimitives.CosineSimilarity(refEmb[i], candEmb[i])).Order()];
        double recall = RecallAtK(refEmb, candEmb, Neighbours);
        double? pairOrder = pairs is null ? null : PairOrder(candEmb, pairs);
        return new EncoderFidelityResult(n, cos.Average(), Percentile(cos, 0.01), cos[0], recall,
            [.. layerDiff.Select((s, i) => Math.Sqrt(s / Math.Max(layerNorm[i], 1e-30)))], pairOrder, refSeconds, candSeconds);
    }

    /// <summary>Mean over texts of the overlap of their <paramref name="k"/> nearest other texts (cosine) under the two
    /// embedding sets, divided by <paramref name="k"/> (k is capped at texts − 1).</summary>
    public static double RecallAtK(IReadOnlyList<float[]> reference, IReadOnlyList<float[]> candidate, int k)
    {
        int n = reference.Count;
        k = Math.Min(k, n - 1);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            HashSet<int> a = Nearest(reference, i, k), b = Nearest(candidate, i, k);
            a.IntersectWith(b);
            total += a.Count / (double)k;
        }

        return total / n;
    }

    /// <summary>Fraction of (paraphrase, unrelated) combinations whose paraphrase cosine is the larger.</summary>
    public static double PairOrder(IReadOnlyList<float[]> embeddings, TextPairs pairs)
    {
        double[] close = [.. pairs.Paraphrases.Select(p => (double)TensorPrimitives.CosineSimilarity(embeddings[p.A], embeddings[p.B]))];
        double[] far = [.. pairs.Unrelated.Select(p => (double)TensorPrimitives.CosineSimilarity(embeddings[p.A], embeddings[p.B]))];
        long above = 0;
        foreach (double c in close)
        {
            above += far.Count(f => c > f);
        }

        return close.Length * far.Length == 0 ? double.NaN : above / (double)(close.Length * far.Length);
    }

    private static HashSet<int> Nearest(IReadOnlyList<float[]> e, int i, int k)
    {
        var scored = new List<(double Cos, int J)>(e.Count - 1);
        for (int j = 0; j < e.Count; j++)
        {
            if (j != i)
            {
                scored.Add((TensorPrimitives.CosineSimilarity(e[i], e[j]), j));
            }
        }

        // Ties break by index, so both sides order equal cosines the same way.
        return [.. scored.OrderByDescending(s => s.Cos).ThenBy(s => s.J).Take(k).Select(s => s.J)];
    }

    private static double Percentile(double[] sorted, double p) => sorted[(int)Math.Floor(p * (sorted.Length - 1))];

    private static void Scatter(float[][] pooled, IReadOnlyList<int> batch, int[] idx, float[][] target)
    {
        for (int i = 0; i < batch.Count; i++)
        {
            target[idx[batch[i]]] = pooled[i];
        }
    }
}
