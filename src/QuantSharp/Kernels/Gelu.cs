using System.Numerics.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// The exact GELU, <c>x · Φ(x) = x/2 · (1 + erf(x/√2))</c>, as PyTorch's <c>gelu</c> (BERT's <c>hidden_act: gelu</c>).
/// erf comes from Abramowitz and Stegun 7.1.26 (absolute error ≤ 1.5·10⁻⁷), evaluated with span primitives so the
/// exponential and the polynomial are vectorized.
/// </summary>
public static class Gelu
{
    private const float P = 0.3275911f;
    private const float A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;
    private const int Chunk = 512;

    /// <summary>Scalar reference: erf by the same formula in double precision.</summary>
    public static float Reference(float x)
    {
        double z = Math.Abs(x) / Math.Sqrt(2);
        double t = 1 / (1 + (P * z));
        double poly = t * (A1 + (t * (A2 + (t * (A3 + (t * (A4 + (t * A5))))))));
        double erf = 1 - (poly * Math.Exp(-z * z));
        return (float)(0.5 * x * (1 + (x < 0 ? -erf : erf)));
    }

    /// <summary>Applies GELU to <paramref name="values"/> in place.</summary>
    public static void Apply(Span<float> values)
    {
        Span<float> z = stackalloc float[Chunk];
        Span<float> t = stackalloc float[Chunk];
        Span<float> e = stackalloc float[Chunk];
        for (int start = 0; start < values.Length; start += Chunk)
        {
            Span<float> x = values.Slice(start, Math.Min(Chunk, values.Length - start));
            int n = x.Length;
            Span<float> zs = z[..n], ts = t[..n], es = e[..n];
            TensorPrimitives.Abs(x, zs);
            TensorPrimitives.Multiply(zs, 0.70710678118654752f, zs);      // z = |x|/√2
            TensorPrimitives.Multiply(zs, zs, es);
            TensorPrimitives.Negate(es, es);
            TensorPrimitives.Exp(es, es);                                   // e = exp(−z²)
            TensorPrimitives.Multiply(zs, P, ts);
            TensorPrimitives.Add(ts, 1f, ts);
            TensorPrimitives.Reciprocal(ts, ts);                            // t = 1/(1 + p·z)
            TensorPrimitives.Multiply(ts, A5, zs);                          // Horner: ((((a5 t + a4) t + a3) t + a2) t + a1) t
            TensorPrimitives.Add(zs, A4, zs);
            TensorPrimitives.MultiplyAdd(zs, ts, A3, zs);
            TensorPrimitives.MultiplyAdd(zs, ts, A2, zs);
            TensorPrimitives.MultiplyAdd(zs, ts, A1, zs);
            TensorPrimitives.Multiply(zs, ts, zs);
            TensorPrimitives.Multiply(zs, es, zs);                          // 1 − erf(|x|/√2) = poly · e
            // x·Φ(x) = x/2 · (1 + sign(x)·(1 − q)) : for x ≥ 0 it is x·(1 − q/2), for x < 0 it is x·q/2.
            for (int i = 0; i < n; i++)
            {
                float q = zs[i] * 0.5f;
                x[i] *= x[i] >= 0 ? 1f - q : q;
            }
        }
    }
}
