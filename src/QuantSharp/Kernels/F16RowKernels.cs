using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QuantSharp.Kernels;

/// <summary>
/// Decode kernels for F16 weights that hold no infinity or NaN (every real checkpoint), where a half becomes a float
/// in two integer operations and no multiply.
/// </summary>
/// <remarks>
/// <para>A half sign-extended to 32 bits and shifted left by 13 has its sign in bit 31, its exponent in bits 23–27 and
/// its mantissa in bits 13–22; masking with <c>0x8FFFE000</c> clears the sign copies in bits 28–30. Read as an F32,
/// those "raw" bits are exactly <c>h · 2⁻¹¹²</c> for every finite half (subnormal halves become F32 subnormals, which
/// is the same scaling). Instead of multiplying each weight by 2¹¹², the activations are scaled once per call
/// (<see cref="ScaleActivations"/>): <c>x' = x · 2^(112−s)</c>, so <c>raw(h) · x' = h · x · 2^(−s)</c> exactly, and each
/// row's sum is multiplied by <c>2^s</c> at the end. For <c>max|x| &lt; 2¹⁵</c>, s = 0 and every product, sum and rounding
/// equals that of the unscaled multiply-add; for larger activations s lowers all intermediates by the same power of
/// two, so nothing overflows that the unscaled sum would not; only values below 2^(s−126) then fall into F32
/// subnormal rounding (an absolute error of at most 2^(s−150) per operation).</para>
/// <para>Decode is limited by how many cache-line misses one core keeps in flight, not by arithmetic (in cache the
/// AVX-512 loop runs at ~44 G weights/s). Up to <see cref="SingleRowMaxCols"/> columns, rows are taken one at a time:
/// the matrix is then read as one sequential stream, which the hardware prefetcher follows best (~34 GB/s on one Zen 5
/// core, against ~27 GB/s for four interleaved rows). For longer rows, x no longer stays in L1 beside the streamed
/// weights, and four rows share each load of x instead, each row stream prefetched <see cref="PrefetchBytes"/> ahead
/// (~28 GB/s, against ~22 GB/s without the prefetch).</para>
/// </remarks>
[SkipLocalsInit]
internal static unsafe class F16RowKernels
{
    /// <summary>How far ahead each row stream of a four-row tile is prefetched (24 cache lines).</summary>
    internal const int PrefetchBytes = 1536;

    /// <summary>Rows up to this length (x up to 16 KiB, a third of a 48 KiB L1D) are taken one at a time.</summary>
    internal const int SingleRowMaxCols = 4096;

    private const int RawMask = unchecked((int)0x8FFFE000);

    /// <summary>The raw bits of a finite half as an F32: exactly <c>h · 2⁻¹¹²</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Raw(ushort h) => BitConverter.Int32BitsToSingle(((short)h << 13) & RawMask);

    /// <summary>
    /// Writes <c>x · 2^(112−s)</c> to <paramref name="scaled"/> and returns s ≥ 0, the smallest shift that keeps every
    /// scaled value below 2¹²⁷ (0 whenever <c>max|x| &lt; 2¹⁵</c>, and for infinite or NaN activations, which then
    /// propagate as in the unscaled product).
    /// </summary>
    internal static int ScaleActivations(ReadOnlySpan<float> x, Span<float> scaled)
    {
        if (x.IsEmpty)
        {
            return 0;
        }

        int biasedExponent = (BitConverter.SingleToInt32Bits(TensorPrimitives.MaxMagnitude(x)) >> 23) & 0xFF;
        int shift = biasedExponent == 0xFF ? 0 : Math.Max(0, biasedExponent - 127 - 14);
        TensorPrimitives.Multiply(x, PowerOfTwo(112 - shift), scaled);
        return shift;
    }

    /// <summary>2^e as a float, for −126 ≤ e ≤ 127.</summary>
    private static float PowerOfTwo(int e) => BitConverter.Int32BitsToSingle((127 + e) << 23);

    /// <summary>Whether any of <paramref name="count"/> halves at <paramref name="p"/> is an infinity or NaN (exponent 31).</summary>
    internal static bool HasInfOrNaN(ushort* p, long count)
    {
        long i = 0;
        Vector256<ushort> exponent = Vector256.Create((ushort)0x7C00);
        for (; i + 16 <= count; i += 16)
        {
            if (Vector256.EqualsAny(Vector256.Load(p + i) & exponent, exponent))
            {
                return true;
            }
        }

        for (; i < count; i++)
        {
            if ((p[i] & 0x7C00) == 0x7C00)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// y[r] = row r · x for rows [start, end) of an F16 [rows, k] matrix with no inf/NaN, given
    /// <paramref name="scaled"/> and <paramref name="shift"/> from <see cref="ScaleActivations"/>. AVX-512 where
    /// <see cref="KernelIsa.UseAvx512"/>, else AVX2, else scalar.
    /// </summary>
    internal static void MatVecRows(byte* w, int k, float* scaled, int shift, float* y, int start, int end)
    {
        if (KernelIsa.UseAvx512)
        {
            MatVecRowsAvx512(w, k, scaled, shift, y, start, end);
        }
        else if (KernelIsa.UseAvx2)
        {
            MatVecRowsAvx2(w, k, scaled, shift, y, start, end);
        }
        else
        {
            MatVecRowsScalar(w, k, scaled, shift, y, start, end);
        }
    }

    /// <summary>Scalar form of the same computation (the fallback where AVX2 is missing).</summary>
    internal static void MatVecRowsScalar(byte* w, int k, float* scaled, int shift, float* y, int start, int end)
    {
        float unscale = PowerOfTwo(shift);
        for (int r = start; r < end; r++)
        {
            y[r] = DotTail((ushort*)(w + ((nint)r * k * 2)), scaled, 0, k) * unscale;
        }
    }

    /// <summary>Σ raw(w[i])·x'[i] for i in [from, k), in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float DotTail(ushort* w, float* scaled, int from, int k)
    {
        float sum = 0;
        for (int i = from; i < k; i++)
        {
            sum += Raw(w[i]) * scaled[i];
        }

        return sum;
    }

    /// <summary>AVX2 + FMA path: rows one at a time, or four at a time beyond <see cref="SingleRowMaxCols"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MatVecRowsAvx2(byte* w, int k, float* scaled, int shift, float* y, int start, int end)
        => MatVecRowsAvx2(w, k, scaled, shift, y, start, end, SingleRowMaxCols);

    /// <summary>Same, with the row length up to which rows are taken singly given (tests cover both loops).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MatVecRowsAvx2(byte* w, int k, float* scaled, int shift, float* y, int start, int end, int singleRowMaxCols)
    {
        nint stride = (nint)k * 2;
        float unscale = PowerOfTwo(shift);
        int r = start;
        for (; k > singleRowMaxCols && r + 4 <= end; r += 4)
        {
            Dot4Avx2(w + (r * stride), stride, scaled, k, y + r);
            y[r] *= unscale;
            y[r + 1] *= unscale;
            y[r + 2] *= unscale;
            y[r + 3] *= unscale;
        }

        for (; r < end; r++)
        {
            y[r] = Dot1Avx2(w + (r * stride), scaled, k) * unscale;
        }
    }

    /// <summary>AVX-512 path: rows one at a time, or four at a time beyond <see cref="SingleRowMaxCols"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MatVecRowsAvx512(byte* w, int k, float* scaled, int shift, float* y, int start, int end)
        => MatVecRowsAvx512(w, k, scaled, shift, y, start, end, SingleRowMaxCols);

    /// <summary>Same, with the row length up to which rows are taken singly given (tests cover both loops).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MatVecRowsAvx512(byte* w, int k, float* scaled, int shift, float* y, int start, int end, int singleRowMaxCols)
    {
        nint stride = (nint)k * 2;
        float unscale = PowerOfTwo(shift);
        int r = start;
        for (; k > singleRowMaxCols && r + 4 <= end; r += 4)
        {
            Dot4Avx512(w + (r * stride), stride, scaled, k, y + r);
            y[r] *= unscale;
            y[r + 1] *= unscale;
            y[r + 2] *= unscale;
            y[r + 3] *= unscale;
        }

        for (; r < end; r++)
        {
            y[r] = Dot1Avx512(w + (r * stride), scaled, k) * unscale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Raw8(byte* p)
        => (Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)p), 13) & Vector256.Create(RawMask)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Raw16(byte* p)
        => (Avx512F.ShiftLeftLogical(Avx512BW.ConvertToVector512Int32(Vector256.Load((short*)p)), 13) & Vector512.Create(RawMask)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4Avx2(byte* w, nint stride, float* x, int k, float* result)
    {
        byte* w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        int i = 0;
        for (; i + 16 <= k; i += 16)
        {
            nint o = (nint)i * 2;
            Sse.Prefetch0(w + o + PrefetchBytes);
            Sse.Prefetch0(w1 + o + PrefetchBytes);
            Sse.Prefetch0(w2 + o + PrefetchBytes);
            Sse.Prefetch0(w3 + o + PrefetchBytes);
            Vector256<float> xa = Avx.LoadVector256(x + i);
            Vector256<float> xb = Avx.LoadVector256(x + i + 8);
            a0 = Fma.MultiplyAdd(Raw8(w + o), xa, a0);
            a1 = Fma.MultiplyAdd(Raw8(w1 + o), xa, a1);
            a2 = Fma.MultiplyAdd(Raw8(w2 + o), xa, a2);
            a3 = Fma.MultiplyAdd(Raw8(w3 + o), xa, a3);
            b0 = Fma.MultiplyAdd(Raw8(w + o + 16), xb, b0);
            b1 = Fma.MultiplyAdd(Raw8(w1 + o + 16), xb, b1);
            b2 = Fma.MultiplyAdd(Raw8(w2 + o + 16), xb, b2);
            b3 = Fma.MultiplyAdd(Raw8(w3 + o + 16), xb, b3);
        }

        if (i + 8 <= k)
        {
            nint o = (nint)i * 2;
            Vector256<float> xa = Avx.LoadVector256(x + i);
            a0 = Fma.MultiplyAdd(Raw8(w + o), xa, a0);
            a1 = Fma.MultiplyAdd(Raw8(w1 + o), xa, a1);
            a2 = Fma.MultiplyAdd(Raw8(w2 + o), xa, a2);
            a3 = Fma.MultiplyAdd(Raw8(w3 + o), xa, a3);
            i += 8;
        }

        result[0] = Vector256.Sum(a0 + b0) + DotTail((ushort*)w, x, i, k);
        result[1] = Vector256.Sum(a1 + b1) + DotTail((ushort*)w1, x, i, k);
        result[2] = Vector256.Sum(a2 + b2) + DotTail((ushort*)w2, x, i, k);
        result[3] = Vector256.Sum(a3 + b3) + DotTail((ushort*)w3, x, i, k);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot1Avx2(byte* w, float* x, int k)
    {
        Vector256<float> a = default, b = default, c = default, d = default;
        int i = 0;
        for (; i + 32 <= k; i += 32)
        {
            nint o = (nint)i * 2;
            a = Fma.MultiplyAdd(Raw8(w + o), Avx.LoadVector256(x + i), a);
            b = Fma.MultiplyAdd(Raw8(w + o + 16), Avx.LoadVector256(x + i + 8), b);
            c = Fma.MultiplyAdd(Raw8(w + o + 32), Avx.LoadVector256(x + i + 16), c);
            d = Fma.MultiplyAdd(Raw8(w + o + 48), Avx.LoadVector256(x + i + 24), d);
        }

        for (; i + 8 <= k; i += 8)
        {
            a = Fma.MultiplyAdd(Raw8(w + ((nint)i * 2)), Avx.LoadVector256(x + i), a);
        }

        return Vector256.Sum((a + b) + (c + d)) + DotTail((ushort*)w, x, i, k);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4Avx512(byte* w, nint stride, float* x, int k, float* result)
    {
        byte* w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        int i = 0;
        for (; i + 32 <= k; i += 32)
        {
            nint o = (nint)i * 2;
            Sse.Prefetch0(w + o + PrefetchBytes);
            Sse.Prefetch0(w1 + o + PrefetchBytes);
            Sse.Prefetch0(w2 + o + PrefetchBytes);
            Sse.Prefetch0(w3 + o + PrefetchBytes);
            Vector512<float> xa = Vector512.Load(x + i);
            Vector512<float> xb = Vector512.Load(x + i + 16);
            a0 = Avx512F.FusedMultiplyAdd(Raw16(w + o), xa, a0);
            a1 = Avx512F.FusedMultiplyAdd(Raw16(w1 + o), xa, a1);
            a2 = Avx512F.FusedMultiplyAdd(Raw16(w2 + o), xa, a2);
            a3 = Avx512F.FusedMultiplyAdd(Raw16(w3 + o), xa, a3);
            b0 = Avx512F.FusedMultiplyAdd(Raw16(w + o + 32), xb, b0);
            b1 = Avx512F.FusedMultiplyAdd(Raw16(w1 + o + 32), xb, b1);
            b2 = Avx512F.FusedMultiplyAdd(Raw16(w2 + o + 32), xb, b2);
            b3 = Avx512F.FusedMultiplyAdd(Raw16(w3 + o + 32), xb, b3);
        }

        if (i + 16 <= k)
        {
            nint o = (nint)i * 2;
            Vector512<float> xa = Vector512.Load(x + i);
            a0 = Avx512F.FusedMultiplyAdd(Raw16(w + o), xa, a0);
            a1 = Avx512F.FusedMultiplyAdd(Raw16(w1 + o), xa, a1);
            a2 = Avx512F.FusedMultiplyAdd(Raw16(w2 + o), xa, a2);
            a3 = Avx512F.FusedMultiplyAdd(Raw16(w3 + o), xa, a3);
            i += 16;
        }

        result[0] = Vector512.Sum(a0 + b0) + DotTail((ushort*)w, x, i, k);
        result[1] = Vector512.Sum(a1 + b1) + DotTail((ushort*)w1, x, i, k);
        result[2] = Vector512.Sum(a2 + b2) + DotTail((ushort*)w2, x, i, k);
        result[3] = Vector512.Sum(a3 + b3) + DotTail((ushort*)w3, x, i, k);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot1Avx512(byte* w, float* x, int k)
    {
        Vector512<float> a = default, b = default, c = default, d = default;
        int i = 0;
        for (; i + 64 <= k; i += 64)
        {
            nint o = (nint)i * 2;
            a = Avx512F.FusedMultiplyAdd(Raw16(w + o), Vector512.Load(x + i), a);
            b = Avx512F.FusedMultiplyAdd(Raw16(w + o + 32), Vector512.Load(x + i + 16), b);
            c = Avx512F.FusedMultiplyAdd(Raw16(w + o + 64), Vector512.Load(x + i + 32), c);
            d = Avx512F.FusedMultiplyAdd(Raw16(w + o + 96), Vector512.Load(x + i + 48), d);
        }

        for (; i + 16 <= k; i += 16)
        {
            a = Avx512F.FusedMultiplyAdd(Raw16(w + ((nint)i * 2)), Vector512.Load(x + i), a);
        }

        return Vector512.Sum((a + b) + (c + d)) + DotTail((ushort*)w, x, i, k);
    }
}
