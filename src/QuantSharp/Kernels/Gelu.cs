using System.Runtime.InteropServices;

namespace QuantSharp.Kernels;

/// <summary>
/// The exact GELU, <c>x · Φ(x) = x/2 · (1 + erf(x/√2))</c>, as PyTorch's <c>gelu</c> (BERT's <c>hidden_act: gelu</c>).
/// erf comes from Abramowitz and Stegun 7.1.26 (absolute error ≤ 1.5·10⁻⁷), evaluated in 512- or 256-bit lanes
/// (the exponential by Cody–Waite range reduction and the Cephes <c>expf</c> polynomial, relative error ~1e-7: the runtime's vector <c>Exp</c> measured 12 ns per float here); <see cref="Reference"/> is the same formula in double precision.
/// </summary>
internal static class Gelu
{
    private const float P = 0.3275911f;
    private const float A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;
    private const float InvSqrt2 = 0.70710678118654752f;

    /// <summary>Scalar reference: erf by the same formula in double precision.</summary>
    public static float Reference(float x)
    {
        double z = Math.Abs(x) / Math.Sqrt(2);
        double t = 1 / (1 + (P * z));
        double poly = t * (A1 + (t * (A2 + (t * (A3 + (t * (A4 + (t * A5))))))));
        double erf = 1 - (poly * Math.Exp(-z * z));
        return (float)(0.5 * x * (1 + (x < 0 ? -erf : erf)));
    }

    /// <summary>Applies GELU to <paramref name="values"/> in place (512- or 256-bit lanes, a scalar tail).</summary>
    public static void Apply(Span<float> values)
    {
        int i = 0;
        ref float start = ref MemoryMarshal.GetReference(values);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= values.Length; i += 16)
            {
                ref float at = ref Unsafe.Add(ref start, i);
                Vector512<float> x = Vector512.LoadUnsafe(ref at);
                Vector512<float> z = Vector512.Abs(x) * InvSqrt2;
                Vector512<float> t = Vector512<float>.One / ((z * P) + Vector512<float>.One);
                Vector512<float> poly = t * (Vector512.Create(A1) + (t * (Vector512.Create(A2) + (t * (Vector512.Create(A3) + (t * (Vector512.Create(A4) + (t * A5))))))));
                Vector512<float> half = poly * ExpNonPositive(-(z * z)) * 0.5f; // (1 − erf(|x|/√2)) / 2
                Vector512<float> phi = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), Vector512<float>.One - half, half);
                (x * phi).StoreUnsafe(ref at);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= values.Length; i += 8)
            {
                ref float at = ref Unsafe.Add(ref start, i);
                Vector256<float> x = Vector256.LoadUnsafe(ref at);
                Vector256<float> z = Vector256.Abs(x) * InvSqrt2;
                Vector256<float> t = Vector256<float>.One / ((z * P) + Vector256<float>.One);
                Vector256<float> poly = t * (Vector256.Create(A1) + (t * (Vector256.Create(A2) + (t * (Vector256.Create(A3) + (t * (Vector256.Create(A4) + (t * A5))))))));
                Vector256<float> half = poly * ExpNonPositive(-(z * z)) * 0.5f;
                Vector256<float> phi = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), Vector256<float>.One - half, half);
                (x * phi).StoreUnsafe(ref at);
            }
        }

        for (; i < values.Length; i++)
        {
            values[i] = Reference(values[i]);
        }
    }

    // exp(y) for y ≤ 0: y = n·ln2 + r with |r| ≤ ln2/2, exp(r) by the Cephes polynomial, 2ⁿ built in the exponent bits;
    // below −87 the result is flushed to 0.
    private const float Log2E = 1.44269504088896341f, Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f;
    private const float E0 = 1.9875691500e-4f, E1 = 1.3981999507e-3f, E2 = 8.3334519073e-3f, E3 = 4.1665795894e-2f, E4 = 1.6666665459e-1f, E5 = 5.0000001201e-1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpNonPositive(Vector512<float> y)
    {
        Vector512<float> n = Vector512.Floor((y * Log2E) + Vector512.Create(0.5f));
        Vector512<float> r = y - (n * Ln2Hi) - (n * Ln2Lo);
        Vector512<float> p = (((((((((((Vector512.Create(E0) * r) + Vector512.Create(E1)) * r) + Vector512.Create(E2)) * r) + Vector512.Create(E3)) * r) + Vector512.Create(E4)) * r) + Vector512.Create(E5)) * r * r) + r + Vector512<float>.One;
        Vector512<int> bits = (Vector512.ConvertToInt32(Vector512.Max(n, Vector512.Create(-126f))) + Vector512.Create(127)) << 23;
        return Vector512.ConditionalSelect(Vector512.LessThan(y, Vector512.Create(-87f)), Vector512<float>.Zero, p * bits.AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ExpNonPositive(Vector256<float> y)
    {
        Vector256<float> n = Vector256.Floor((y * Log2E) + Vector256.Create(0.5f));
        Vector256<float> r = y - (n * Ln2Hi) - (n * Ln2Lo);
        Vector256<float> p = (((((((((((Vector256.Create(E0) * r) + Vector256.Create(E1)) * r) + Vector256.Create(E2)) * r) + Vector256.Create(E3)) * r) + Vector256.Create(E4)) * r) + Vector256.Create(E5)) * r * r) + r + Vector256<float>.One;
        Vector256<int> bits = (Vector256.ConvertToInt32(Vector256.Max(n, Vector256.Create(-126f))) + Vector256.Create(127)) << 23;
        return Vector256.ConditionalSelect(Vector256.LessThan(y, Vector256.Create(-87f)), Vector256<float>.Zero, p * bits.AsSingle());
    }
}
