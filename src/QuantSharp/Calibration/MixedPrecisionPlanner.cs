using System.Numerics.Tensors;
using QuantSharp.Kernels;
using QuantSharp.Models;

using QuantSharp.Quantization;

namespace QuantSharp.Calibration;

/// <summary>A bit-width candidate of the planner.</summary>
/// <param name="Label">Short name shown in the plan (<c>8</c>, <c>4</c>, <c>3</c>, <c>2</c>, <c>ternary</c>).</param>
/// <param name="Spec">The scheme.</param>
public sealed record PlanCandidate(string Label, QuantSpec Spec)
{
    /// <summary>The default candidates: int8, int4 g128, int3 g128, int2 g64, ternary per row.</summary>
    public static IReadOnlyList<PlanCandidate> Defaults { get; } =
    [
        new("8", QuantSpec.Int8()), new("4", QuantSpec.Int4(128)), new("3", QuantSpec.Int3(128)), new("2", QuantSpec.Int2(64)),
        new("ternary", QuantSpec.Ternary(TernaryGranularity.PerRow)),
    ];

    /// <summary>Parses "8,4,3,2,ternary".</summary>
    /// <exception cref="QuantSharpException">An unknown label.</exception>
    public static IReadOnlyList<PlanCandidate> Parse(string labels) => [.. labels.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(l => Defaults.FirstOrDefault(d => d.Label == l) ?? throw new QuantSharpException($"unknown bit-width candidate '{l}' (known: 8, 4, 3, 2, ternary)"))];
}

/// <summary>
/// Mixed precision: measures each block linear's sensitivity when only that layer is round-to-nearest quantized to a
/// candidate — for a decoder the mean KL divergence of the next-token distribution from the unquantized model's over
/// calibration tokens, for an encoder the relative squared error ‖ΔH‖²/‖H‖² of the last hidden state per sequence —
/// then picks one candidate per layer meeting a byte budget with the least summed sensitivity.
/// </summary>
public static class MixedPrecisionPlanner
{
    /// <summary>Sensitivity and bytes of every (layer, candidate), in forward order.</summary>
    public static IReadOnlyList<(string Layer, long Params, PlanEntry[] Options)> Measure(TransformerModel model, CalibrationData data, IReadOnlyList<PlanCandidate> candidates, Action<int, int>? progress = null)
    {
        ModelConfig c = model.Config;
        int d = c.HiddenSize, L = data.Length, vocab = c.VocabSize, n = data.Sequences.Count;
        using var runner = new BlockRunner(model, L);

        // Hidden states at each block's input, and the reference log-probabilities.
        float[][][] inputs = new float[model.Blocks.Length + 1][][];
        inputs[0] = [.. data.Sequences.Select(s => { float[] x = new float[L * d]; BlockRunner.Embed(model, s, x); return x; })];
        for (int l = 0; l < model.Blocks.Length; l++)
        {
            inputs[l + 1] = [.. inputs[l].Select(x => (float[])x.Clone())];
            foreach (float[] x in inputs[l + 1])
            {
                runner.Run(model.Blocks[l], l, x, L);
            }
        }

        // Decoders: next-token log-probabilities; encoders (no head): the last hidden state itself.
        bool encoder = model.Spec.IsEncoder;
        float[][] reference = [.. inputs[^1].Select(x => encoder ? x : LogSoftmaxRows(model, x, L))];
        var result = new List<(string, long, PlanEntry[])>();
        int total = model.Spec.BlockLinearNames(c.Layers).Count(), done = 0;
        float[] work = new float[L * d];
        for (int l = 0; l < model.Blocks.Length; l++)
        {
            foreach (string name in CalibratedQuantization.BlockLinearNames(model.Spec, l))
            {
                ILinearWeight w = CalibratedQuantization.Get(model.Spec, model.Blocks[l], l, name);
                float[] dense = CalibratedQuantization.DenseOf(w);
                var options = new PlanEntry[candidates.Count];
                for (int k = 0; k < candidates.Count; k++)
                {
                    PlanCandidate cand = candidates[k];
                    PackedLinear q = QuantizedLinear.Quantize(name, dense, w.Rows, w.Cols, cand.Spec);
                    BlockWeights blk = model.Blocks[l].CloneVectors();
                    CalibratedQuantization.Set(model.Spec, blk, l, name, q);
                    double kl = 0;
                    for (int s = 0; s < n; s++)
                    {
                        inputs[l][s].CopyTo(work, 0);
                        runner.Run(blk, l, work, L);
                        for (int m = l + 1; m < model.Blocks.Length; m++)
                        {
                            runner.Run(model.Blocks[m], m, work, L);
                        }

                        kl += encoder ? RelativeSquaredError(reference[s], work) : Kl(reference[s], LogSoftmaxRows(model, work, L), L, vocab);
                    }

                    options[k] = new PlanEntry(name, cand.Label, cand.Spec, q.BytesInMemory, kl / (encoder ? n : (long)n * L));
                }

                result.Add((name, (long)w.Rows * w.Cols, options));
                progress?.Invoke(++done, total);
            }
        }

        return result;
    }

    /// <summary>
    /// Greedy knapsack: every layer starts at its largest candidate; while over <paramref name="budgetBytes"/>, the
    /// move (any layer to any smaller candidate) with the least sensitivity increase per byte saved is taken.
    /// </summary>
    /// <exception cref="QuantSharpException">The budget is below the smallest possible total.</exception>
    public static QuantPlan Choose(IReadOnlyList<(string Layer, long Params, PlanEntry[] Options)> measured, long budgetBytes)
    {
        long minimum = measured.Sum(m => m.Options.Min(o => o.Bytes));
        if (budgetBytes < minimum)
        {
            throw new QuantSharpException($"budget of {budgetBytes} bytes is below the smallest plan ({minimum} bytes, every layer at its smallest candidate)");
        }

        PlanEntry[] current = [.. measured.Select(m => m.Options.MaxBy(o => o.Bytes)!)];
        long total = current.Sum(e => e.Bytes);
        while (total > budgetBytes)
        {
            int bestLayer = -1;
            PlanEntry? bestMove = null;
            double bestRatio = double.PositiveInfinity;
            for (int i = 0; i < measured.Count; i++)
            {
                foreach (PlanEntry o in measured[i].Options)
                {
                    long saved = current[i].Bytes - o.Bytes;
                    if (saved <= 0)
                    {
                        continue;
                    }

                    double ratio = (o.Sensitivity - current[i].Sensitivity) / saved;
                    if (ratio < bestRatio)
                    {
                        (bestRatio, bestLayer, bestMove) = (ratio, i, o);
                    }
                }
            }

            total -= current[bestLayer].Bytes - bestMove!.Bytes;
            current[bestLayer] = bestMove;
        }

        return new QuantPlan(current, budgetBytes);
    }

    /// <summary>The byte budget for an average of <paramref name="bits"/> bits per weight (scales included) over the measured layers.</summary>
    public static long BudgetForAverageBits(IReadOnlyList<(string Layer, long Params, PlanEntry[] Options)> measured, double bits)
        => (long)Math.Floor(measured.Sum(m => m.Params) * bits / 8);

    /// <summary>‖x − ref‖² / ‖ref‖² over a whole sequence's hidden states.</summary>
    private static double RelativeSquaredError(float[] reference, float[] x)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double d = x[i] - reference[i];
            diff += d * d;
            norm += (double)reference[i] * reference[i];
        }

        return diff / Math.Max(norm, 1e-30);
    }

    private static float[] LogSoftmaxRows(TransformerModel model, float[] x, int tokens)
    {
        int vocab = model.Config.VocabSize;
        float[] logits = new float[tokens * vocab];
        BlockRunner.Head(model, x, tokens, logits);
        for (int t = 0; t < tokens; t++)
        {
            Span<float> row = logits.AsSpan(t * vocab, vocab);
            float max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, row);
            float lse = MathF.Log(TensorPrimitives.SumOfMagnitudes(Exp(row)));
            TensorPrimitives.Subtract(row, lse, row);
        }

        return logits;
    }

    [ThreadStatic]
    private static float[]? t_exp;

    private static float[] Exp(ReadOnlySpan<float> row)
    {
        if (t_exp is null || t_exp.Length != row.Length)
        {
            t_exp = new float[row.Length];
        }

        TensorPrimitives.Exp(row, t_exp);
        return t_exp;
    }

    private static double Kl(float[] p, float[] q, int tokens, int vocab)
    {
        double kl = 0;
        for (int i = 0; i < tokens * vocab; i++)
        {
            double lp = p[i];
            kl += Math.Exp(lp) * (lp - q[i]);
        }

        return kl;
    }
}
