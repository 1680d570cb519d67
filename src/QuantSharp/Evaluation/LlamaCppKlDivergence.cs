using QuantSharp.Models;

namespace QuantSharp.Evaluation;

/// <summary>KL divergence of a model from the base logits of a <see cref="LlamaCppLogitsFile"/>, as
/// <c>llama-perplexity --kl-divergence</c> computes it: the file's own tokens and chunks, the first token of each chunk
/// replaced by BOS, the second half of each chunk compared; base probabilities below e⁻¹⁶ are left out of the sum.</summary>
/// <param name="KlMean">Mean KL(base ‖ model), nats.</param>
/// <param name="KlP99">99th percentile of the per-position KL.</param>
/// <param name="SameTop">Fraction of positions whose most likely token is the same.</param>
/// <param name="Perplexity">This model's perplexity on the scored tokens.</param>
/// <param name="BasePerplexity">The base's perplexity from the file.</param>
/// <param name="Positions">Positions compared.</param>
public sealed record KlDivergenceResult(double KlMean, double KlP99, double SameTop, double Perplexity, double BasePerplexity, long Positions)
{
    /// <summary>Compares <paramref name="model"/> with the base logits in <paramref name="file"/>.</summary>
    /// <exception cref="QuantSharpException">A vocabulary or context that does not match the model.</exception>
    public static KlDivergenceResult Evaluate(TransformerModel model, LlamaCppLogitsFile.Contents file, int bosId, bool addBos, Action<int, int>? progress = null)
    {
        int ctx = file.Context, vocab = model.Config.VocabSize;
        if (file.Vocab != vocab)
        {
            throw new QuantSharpException($"the logits file has a vocabulary of {file.Vocab}, the model {vocab}");
        }

        int first = ctx / 2;
        using var session = new InferenceSession(model, ctx, ctx);
        float[] logits = new float[ctx * vocab];
        int[] window = new int[ctx];
        var kls = new List<double>();
        double nll = 0, baseNll = 0;
        long same = 0, position = 0;
        for (int c = 0; c < file.Chunks; c++)
        {
            file.Tokens.AsSpan(c * ctx, ctx).CopyTo(window);
            if (addBos)
            {
                window[0] = bosId;
            }

            session.Reset();
            session.Forward(window, logits);
            for (int p = first; p < ctx - 1; p++, position++)
            {
                ReadOnlySpan<float> row = logits.AsSpan(p * vocab, vocab);
                float max = row[0];
                int top = 0;
                for (int i = 1; i < vocab; i++)
                {
                    if (row[i] > max)
                    {
                        (max, top) = (row[i], i);
                    }
                }

                double sumExp = 0;
                foreach (float l in row)
                {
                    sumExp += MathF.Exp(l - max);
                }

                double logZ = max + Math.Log(sumExp);
                int target = file.Tokens[(c * ctx) + p + 1];
                nll += logZ - row[target];
                baseNll -= file.LogProb(position, target);
                double kl = 0, bestBase = double.NegativeInfinity;
                int baseTop = 0;
                for (int i = 0; i < vocab; i++)
                {
                    float lb = file.LogProb(position, i);
                    if (lb > bestBase)
                    {
                        (bestBase, baseTop) = (lb, i);
                    }

                    if (lb > -16f)
                    {
                        kl += Math.Exp(lb) * (lb - (row[i] - logZ));
                    }
                }

                kls.Add(kl);
                same += top == baseTop ? 1 : 0;
            }

            progress?.Invoke(c + 1, file.Chunks);
        }

        double[] sorted = [.. kls.Order()];
        return new KlDivergenceResult(sorted.Average(), sorted[(int)Math.Floor(0.99 * (sorted.Length - 1))], same / (double)position, Math.Exp(nll / position), Math.Exp(baseNll / position), position);
    }
}
