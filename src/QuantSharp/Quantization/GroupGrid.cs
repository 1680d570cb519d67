namespace QuantSharp.Quantization;

/// <summary>
/// The integer grid of one group of weights: <c>value(code) = Scale · (code − Zero)</c> for codes 0..<see cref="MaxCode"/>.
/// Shared by round-to-nearest (<see cref="IntGroupScheme"/>), GPTQ (fitted at each group start on the error-updated
/// weights) and AWQ (fitted with a clipping ratio).
/// </summary>
/// <param name="Scale">Step, an exact F16 value (so the stored scale reproduces the grid bit for bit).</param>
/// <param name="Zero">Code of the value 0.</param>
/// <param name="MaxCode">2^bits − 1.</param>
public readonly record struct GroupGrid(float Scale, int Zero, int MaxCode)
{
    /// <summary>
    /// Fits a grid to <paramref name="weights"/>. Asymmetric (as GPTQ's quantizer, 0 always representable):
    /// <c>lo = min(min w, 0)</c>, <c>hi = max(max w, 0)</c>, both clipped to <c>±clip · absmax</c>,
    /// <c>Scale = (hi − lo) / MaxCode</c> rounded up to F16, <c>Zero = clamp(round(−lo / Scale), 0, MaxCode)</c>.
    /// Symmetric (GPTQ's <c>sym=True</c>): <c>Scale = 2 · clip · absmax / MaxCode</c> rounded up to F16,
    /// <c>Zero = 2^(bits−1)</c>. A group of zeros gets Scale 0.
    /// </summary>
    /// <exception cref="QuantSharpException">The scale overflows F16 (names <paramref name="name"/>).</exception>
    public static GroupGrid Fit(ReadOnlySpan<float> weights, int bits, bool symmetric, float clip = 1f, string name = "")
    {
        int maxq = (1 << bits) - 1;
        float lo = 0, hi = 0;
        foreach (float v in weights)
        {
            lo = Math.Min(lo, v);
            hi = Math.Max(hi, v);
        }

        float limit = Math.Max(-lo, hi) * clip;
        lo = Math.Max(lo, -limit);
        hi = Math.Min(hi, limit);
        if (symmetric)
        {
            int zero = 1 << (bits - 1);
            return limit == 0 ? new GroupGrid(0, zero, maxq) : new GroupGrid((float)Int4Scheme.RoundUpToHalf(2 * limit / maxq, name), zero, maxq);
        }

        if (hi == lo)
        {
            return new GroupGrid(0, 0, maxq);
        }

        float scale = (float)Int4Scheme.RoundUpToHalf((hi - lo) / maxq, name);
        return new GroupGrid(scale, (int)Math.Clamp(MathF.Round(-lo / scale), 0f, maxq), maxq);
    }

    /// <summary>
    /// Fits a grid that minimises the importance-weighted squared rounding error <c>Σ_i a_i · (w_i − round(w_i))²</c>
    /// (<paramref name="importance"/> a_i ≥ 0, one per weight; <see cref="IntGroupScheme"/> passes the importance matrix
    /// entry of the weight's column times √(σ² + w²), GPTQ's grid search the Hessian diagonal times the same factor). Candidates: <see cref="Fit"/>'s grid with its range shrunk to 100 %, 98 %, … 60 %, 50 % … 3 % (asymmetric:
    /// both ends — with the zero point also moved by ±1 — and each end alone); the best candidate's scale is then refitted by
    /// weighted least squares for its codes and kept if that lowers the error. Never worse than <see cref="Fit"/>'s grid
    /// under the same weights, which is the first candidate. With all a_i equal this is an MSE-optimal clipping search.
    /// </summary>
    /// <exception cref="QuantSharpException">The scale overflows F16 (names <paramref name="name"/>).</exception>
    public static GroupGrid FitWeighted(ReadOnlySpan<float> weights, ReadOnlySpan<float> importance, int bits, bool symmetric, string name = "")
    {
        GroupGrid best = Fit(weights, bits, symmetric, 1f, name);
        if (best.Scale == 0)
        {
            return best;
        }

        double bestError = best.Error(weights, importance);
        float lo = 0, hi = 0;
        foreach (float v in weights)
        {
            lo = Math.Min(lo, v);
            hi = Math.Max(hi, v);
        }

        int maxq = best.MaxCode;
        var candidates = new List<GroupGrid>(100);
        foreach (float shrink in Shrinks)
        {
            if (symmetric)
            {
                candidates.Add(Fit(weights, bits, true, shrink, name));
                continue;
            }

            foreach ((float a, float b, bool moveZero) in new[] { (lo * shrink, hi * shrink, true), (lo * shrink, hi, false), (lo, hi * shrink, false) })
            {
                if (b <= a)
                {
                    continue;
                }

                float scale = (float)Int4Scheme.RoundUpToHalf((b - a) / maxq, name);
                int zero = (int)Math.Clamp(MathF.Round(-a / scale), 0f, maxq);
                for (int dz = moveZero ? -1 : 0; dz <= (moveZero ? 1 : 0); dz++)
                {
                    candidates.Add(new GroupGrid(scale, Math.Clamp(zero + dz, 0, maxq), maxq));
                }
            }
        }

        foreach (GroupGrid candidate in candidates)
        {
            double e = candidate.Error(weights, importance);
            if (e < bestError)
            {
                (best, bestError) = (candidate, e);
            }
        }

        // Weighted least-squares scale for the best codes: s = Σ a·w·(q − z) / Σ a·(q − z)².
        double num = 0, den = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            int k = best.Code(weights[i]) - best.Zero;
            num += importance[i] * weights[i] * k;
            den += importance[i] * k * k;
        }

        if (den > 0 && num > 0)
        {
            GroupGrid refitted = best with { Scale = (float)Int4Scheme.RoundUpToHalf((float)(num / den), name) };
            if (refitted.Error(weights, importance) < bestError)
            {
                best = refitted;
            }
        }

        return best;
    }

    /// <summary>Range factors <see cref="FitWeighted"/> tries: 98 % … 60 % in steps of 2 %, then down to 3 % so that
    /// an outlier of negligible importance can be clipped away entirely.</summary>
    private static readonly float[] Shrinks = [.. Enumerable.Range(1, 20).Select(i => 1f - (0.02f * i)), 0.5f, 0.35f, 0.25f, 0.18f, 0.12f, 0.08f, 0.05f, 0.03f];

    /// <summary>
    /// The error weights of a group's weights <paramref name="w"/> from per-weight importances (an importance matrix
    /// entry, or GPTQ's Hessian diagonal): <c>a_i · √(σ² + w_i²)</c>, σ² the group's mean square, as llama.cpp's
    /// k-quants weigh them. On brown-llama this beat both the plain importance and unweighted search at 2, 3 and 4 bits.
    /// </summary>
    public static float[] ErrorWeights(ReadOnlySpan<float> w, ReadOnlySpan<float> importance)
    {
        double meanSquare = 0;
        foreach (float v in w)
        {
            meanSquare += (double)v * v;
        }

        meanSquare /= w.Length;
        var weights = new float[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            weights[i] = importance[i] * (float)Math.Sqrt(meanSquare + ((double)w[i] * w[i]));
        }

        return weights;
    }

    /// <summary>Σ_i a_i · (w_i − round(w_i))² over a group.</summary>
    public double Error(ReadOnlySpan<float> weights, ReadOnlySpan<float> importance)
    {
        double e = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            double d = weights[i] - Round(weights[i]);
            e += importance[i] * d * d;
        }

        return e;
    }

    /// <summary>The nearest code: <c>clamp(round_half_even(w / Scale) + Zero, 0, MaxCode)</c> (Zero when Scale is 0).</summary>
    public int Code(double w) => Scale == 0 ? Zero : (int)Math.Clamp(Math.Round(w / Scale) + Zero, 0, MaxCode);

    /// <summary>The value a code stands for.</summary>
    public float Value(int code) => Scale * (code - Zero);

    /// <summary>Rounds <paramref name="w"/> to the grid.</summary>
    public float Round(double w) => Value(Code(w));
}
