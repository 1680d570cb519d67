using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Kernels;

/// <summary>Dot product of an int8 weight row with int8-quantized activations (<see cref="ActivationQuantizer"/>),
/// with the scalar reference the AVX2 path is tested against.</summary>
[SkipLocalsInit]
internal static unsafe class Int8Kernels
{
    /// <summary>Scalar reference: <c>Σ_b d[b] · Σ_{c∈b} w[c] · q[c]</c> over the <paramref name="cols"/> weights (exact integer block sums).</summary>
    internal static float DotReference(sbyte* w, int cols, sbyte* q, float* d)
    {
        float acc = 0;
        for (int start = 0, b = 0; start < cols; start += 32, b++)
        {
            int end = Math.Min(cols, start + 32);
            int sum = 0;
            for (int c = start; c < end; c++)
            {
                sum += w[c] * q[c];
            }

            acc += d[b] * sum;
        }

        return acc;
    }

    /// <summary>Same as <see cref="DotReference"/>; AVX2 when available (whole 32-blocks), reference for the tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(sbyte* w, int cols, sbyte* q, float* d)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported || cols < 32)
        {
            return DotReference(w, cols, q, d);
        }

        int full = cols / 32;
        Vector256<short> ones = Vector256.Create((short)1);
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        int b = 0;
        for (; b + 2 <= full; b += 2)
        {
            acc0 = Fma.MultiplyAdd(Block(w + (b * 32), q + (b * 32), ones), Vector256.Create(d[b]), acc0);
            acc1 = Fma.MultiplyAdd(Block(w + (b * 32) + 32, q + (b * 32) + 32, ones), Vector256.Create(d[b + 1]), acc1);
        }

        if (b < full)
        {
            acc0 = Fma.MultiplyAdd(Block(w + (b * 32), q + (b * 32), ones), Vector256.Create(d[b]), acc0);
        }

        float result = Vector256.Sum(acc0 + acc1);
        if (full * 32 < cols)
        {
            result += DotReference(w + (full * 32), cols - (full * 32), q + (full * 32), d + full);
        }

        return result;
    }

    /// <summary>Eight int32 partial sums of 32 products w·q, as floats. |w| ≤ 127 and |q| ≤ 127, so maddubs's i16 pairs cannot saturate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Block(sbyte* w, sbyte* q, Vector256<short> ones)
    {
        Vector256<sbyte> wv = Avx.LoadVector256(w);
        Vector256<sbyte> qv = Avx.LoadVector256(q);
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(Avx2.Abs(wv), Avx2.Sign(qv, wv));
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, ones));
    }
}
