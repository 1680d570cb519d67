using QuantSharp.Models;

namespace QuantSharp.Evaluation;

/// <summary>How closely a quantized decoder reproduces its reference's next-token distributions.</summary>
/// <param name="ReferencePerplexity">Perplexity of the reference on the scored tokens.</param>
/// <param name="CandidatePerplexity">Perplexity of the quantized model on the same tokens.</param>
/// <param name="KlMean">Mean over scored positions of KL(reference ‖ quantized), nats.</param>
/// <param name="KlP99">99th percentile of the per-position KL.</param>
/// <param name="TopOneAgreement">Fraction of positions where both models rank the same token first.</param>
/// <param name="ScoredTokens">Positions compared.</param>
/// <param name="Windows">Windows run.</param>
public sealed record DecoderFidelityResult(double ReferencePerplexity, double CandidatePerplexity, double KlMean, double KlP99, double TopOneAgreement, long ScoredTokens, int Windows);

/// <summary>
/// Compares a quantized decoder with its reference on the windows <see cref="PerplexityEvaluator"/> scores (either
/// <see cref="PerplexityProtocol"/>): perplexity of both, KL divergence of the next-token distributions (mean, p99) and
/// top-1 agreement at every scored position.
/// </summary>
public static class DecoderFidelity
{
    /// <summary>Runs both models over the same windows of <paramref name="tokens"/>.</summary>
    /// <exception cref="QuantSharpException">The text is shorter than one window, or the vocabularies differ.</exception>
    public static DecoderFidelityResult Compare(TransformerModel reference, TransformerModel candidate, IReadOnlyList<int> tokens, int bosId, PerplexityOptions? options = null)
    {
        options ??= new PerplexityOptions();
        int vocab = reference.Config.VocabSize;
        if (candidate.Config.VocabSize != vocab)
        {
            throw new QuantSharpException($"the models' vocabularies differ ({vocab} vs {candidate.Config.VocabSize})");
        }

        PerplexityWindows windows = PerplexityWindows.Create(tokens, bosId, reference.Config.MaxPositions, options);
        int ctx = windows.Context;
        using var refSession = new InferenceSession(reference, ctx, ctx);
        using var candSession = new InferenceSession(candidate, ctx, ctx);
        float[] refLogits = new float[ctx * vocab], candLogits = new float[ctx * vocab];
        double[] refLp = new double[vocab], candLp = new double[vocab];
        int[] window = new int[ctx];
        var kls = new List<double>();
        double refNll = 0, candNll = 0;
        long agree = 0;
        for (int w = 0; w < windows.Count; w++)
        {
            windows.Fill(w, window);
            refSession.Reset();
            candSession.Reset();
            refSession.Forward(window, refLogits);
            candSession.Forward(window, candLogits);
            for (int p = windows.FirstScored; p < ctx - 1; p++)
            {
                LogProb.LogSoftmax(refLogits.AsSpan(p * vocab, vocab), refLp);
                LogProb.LogSoftmax(candLogits.AsSpan(p * vocab, vocab), candLp);
                double kl = 0;
                int refTop = 0, candTop = 0;
                for (int v = 0; v < vocab; v++)
                {
                    kl += Math.Exp(refLp[v]) * (refLp[v] - candLp[v]);
                    refTop = refLp[v] > refLp[refTop] ? v : refTop;
                    candTop = candLp[v] > candLp[candTop] ? v : candTop;
                }

                kls.Add(Math.Max(0, kl));
                agree += refTop == candTop ? 1 : 0;
                int target = windows.Target(w, p);
                refNll -= refLp[target];
                candNll -= candLp[target];
            }

            options.Progress?.Invoke(w + 1, windows.Count);
        }

        double[] sorted = [.. kls.Order()];
        int n = sorted.Length;
        return new DecoderFidelityResult(Math.Exp(refNll / n), Math.Exp(candNll / n), sorted.Average(), sorted[(int)Math.Floor(0.99 * (n - 1))], agree / (double)n, n, windows.Count);
    }
}
