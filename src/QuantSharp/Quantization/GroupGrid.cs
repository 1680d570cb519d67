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

    /// <summary>The nearest code: <c>clamp(round_half_even(w / Scale) + Zero, 0, MaxCode)</c> (Zero when Scale is 0).</summary>
    public int Code(double w) => Scale == 0 ? Zero : (int)Math.Clamp(Math.Round(w / Scale) + Zero, 0, MaxCode);

    /// <summary>The value a code stands for.</summary>
    public float Value(int code) => Scale * (code - Zero);

    /// <summary>Rounds <paramref name="w"/> to the grid.</summary>
    public float Round(double w) => Value(Code(w));
}
