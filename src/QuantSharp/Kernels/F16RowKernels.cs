using System.Numerics.Tensors;

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

    /// <summary>
    /// Converts <paramref name="count"/> finite halves to floats: the raw bits times 2¹¹², which is exact for every
    /// finite half (the same values as <c>TensorPrimitives.ConvertToSingle</c>, which runs ~2 G halves/s here against
    /// this loop's memory speed). Infinities and NaNs come out wrong: callers check <see cref="HasInfOrNaN"/> first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ConvertFinite(ushort* source, float* destination, long count)
    {
        float scale = PowerOfTwo(112);
        long i = 0;
        if (KernelIsa.UseAvx512)
        {
            for (; i + 16 <= count; i += 16)
            {
                Vector512.Store(Lanes512.Raw((byte*)(source + i)) * scale, destination + i);
            }
        }
        else if (Avx2.IsSupported)
        {
            for (; i + 8 <= count; i += 8)
            {
                Vector256.Store(Lanes256.Raw((byte*)(source + i)) * scale, destination + i);
            }
        }

        for (; i < count; i++)
        {
            destination[i] = Raw(source[i]) * scale;
        }
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
        => MatVecRows<Lanes256, Vector256<float>>(w, k, scaled, shift, y, start, end, SingleRowMaxCols);

    /// <summary>Same, with the row length up to which rows are taken singly given (tests cover both loops).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MatVecRowsAvx2(byte* w, int k, float* scaled, int shift, float* y, int start, int end, int singleRowMaxCols)
        => MatVecRows<Lanes256, Vector256<float>>(w, k, scaled, shift, y, start, end, singleRowMaxCols);

    /// <summary>AVX-512 path: rows one at a time, or four at a time beyond <see cref="SingleRowMaxCols"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MatVecRowsAvx512(byte* w, int k, float* scaled, int shift, float* y, int start, int end)
        => MatVecRows<Lanes512, Vector512<float>>(w, k, scaled, shift, y, start, end, SingleRowMaxCols);

    /// <summary>Same, with the row length up to which rows are taken singly given (tests cover both loops).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MatVecRowsAvx512(byte* w, int k, float* scaled, int shift, float* y, int start, int end, int singleRowMaxCols)
        => MatVecRows<Lanes512, Vector512<float>>(w, k, scaled, shift, y, start, end, singleRowMaxCols);

    /// <summary>What the row loops need of one vector width (<see cref="Lanes256"/>, <see cref="Lanes512"/>): the loops
    /// are written once and compiled per width.</summary>
    private interface ILanes<TVec>
        where TVec : struct
    {
        /// <summary>Floats per vector.</summary>
        static abstract int Count { get; }

        /// <summary>The raw F32 bits of <see cref="Count"/> halves at <paramref name="p"/> (see the remarks).</summary>
        static abstract TVec Raw(byte* p);

        static abstract TVec Load(float* p);

        static abstract TVec MultiplyAdd(TVec a, TVec b, TVec c);

        static abstract TVec Add(TVec a, TVec b);

        static abstract float Sum(TVec v);
    }

    private readonly struct Lanes256 : ILanes<Vector256<float>>
    {
        public static int Count => 8;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Raw(byte* p)
            => (Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)p), 13) & Vector256.Create(RawMask)).AsSingle();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* p) => Avx.LoadVector256(p);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Fma.MultiplyAdd(a, b, c);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Sum(Vector256<float> v) => Vector256.Sum(v);
    }

    private readonly struct Lanes512 : ILanes<Vector512<float>>
    {
        public static int Count => 16;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Raw(byte* p)
            => (Avx512F.ShiftLeftLogical(Avx512BW.ConvertToVector512Int32(Vector256.Load((short*)p)), 13) & Vector512.Create(RawMask)).AsSingle();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* p) => Vector512.Load(p);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, b, c);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Sum(Vector512<float> v) => Vector512.Sum(v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatVecRows<TL, TVec>(byte* w, int k, float* scaled, int shift, float* y, int start, int end, int singleRowMaxCols)
        where TL : struct, ILanes<TVec>
        where TVec : struct
    {
        nint stride = (nint)k * 2;
        float unscale = PowerOfTwo(shift);
        int r = start;
        for (; k > singleRowMaxCols && r + 4 <= end; r += 4)
        {
            Dot4<TL, TVec>(w + (r * stride), stride, scaled, k, y + r);
            y[r] *= unscale;
            y[r + 1] *= unscale;
            y[r + 2] *= unscale;
            y[r + 3] *= unscale;
        }

        for (; r < end; r++)
        {
            y[r] = Dot1<TL, TVec>(w + (r * stride), scaled, k) * unscale;
        }
    }

    /// <summary>Four rows sharing each load of x, two vectors per row per step, each row stream prefetched.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4<TL, TVec>(byte* w, nint stride, float* x, int k, float* result)
        where TL : struct, ILanes<TVec>
        where TVec : struct
    {
        int n = TL.Count;
        byte* w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        TVec a0 = default, a1 = default, a2 = default, a3 = default;
        TVec b0 = default, b1 = default, b2 = default, b3 = default;
        int i = 0;
        for (; i + (2 * n) <= k; i += 2 * n)
        {
            nint o = (nint)i * 2, h = (nint)n * 2;
            Sse.Prefetch0(w + o + PrefetchBytes);
            Sse.Prefetch0(w1 + o + PrefetchBytes);
            Sse.Prefetch0(w2 + o + PrefetchBytes);
            Sse.Prefetch0(w3 + o + PrefetchBytes);
            TVec xa = TL.Load(x + i);
            TVec xb = TL.Load(x + i + n);
            a0 = TL.MultiplyAdd(TL.Raw(w + o), xa, a0);
            a1 = TL.MultiplyAdd(TL.Raw(w1 + o), xa, a1);
            a2 = TL.MultiplyAdd(TL.Raw(w2 + o), xa, a2);
            a3 = TL.MultiplyAdd(TL.Raw(w3 + o), xa, a3);
            b0 = TL.MultiplyAdd(TL.Raw(w + o + h), xb, b0);
            b1 = TL.MultiplyAdd(TL.Raw(w1 + o + h), xb, b1);
            b2 = TL.MultiplyAdd(TL.Raw(w2 + o + h), xb, b2);
            b3 = TL.MultiplyAdd(TL.Raw(w3 + o + h), xb, b3);
        }

        if (i + n <= k)
        {
            nint o = (nint)i * 2;
            TVec xa = TL.Load(x + i);
            a0 = TL.MultiplyAdd(TL.Raw(w + o), xa, a0);
            a1 = TL.MultiplyAdd(TL.Raw(w1 + o), xa, a1);
            a2 = TL.MultiplyAdd(TL.Raw(w2 + o), xa, a2);
            a3 = TL.MultiplyAdd(TL.Raw(w3 + o), xa, a3);
            i += n;
        }

        result[0] = TL.Sum(TL.Add(a0, b0)) + DotTail((ushort*)w, x, i, k);
        result[1] = TL.Sum(TL.Add(a1, b1)) + DotTail((ushort*)w1, x, i, k);
        result[2] = TL.Sum(TL.Add(a2, b2)) + DotTail((ushort*)w2, x, i, k);
        result[3] = TL.Sum(TL.Add(a3, b3)) + DotTail((ushort*)w3, x, i, k);
    }

    /// <summary>One row, four independent accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot1<TL, TVec>(byte* w, float* x, int k)
        where TL : struct, ILanes<TVec>
        where TVec : struct
    {
        int n = TL.Count;
        TVec a = default, b = default, c = default, d = default;
        int i = 0;
        for (; i + (4 * n) <= k; i += 4 * n)
        {
            nint o = (nint)i * 2, h = (nint)n * 2;
            a = TL.MultiplyAdd(TL.Raw(w + o), TL.Load(x + i), a);
            b = TL.MultiplyAdd(TL.Raw(w + o + h), TL.Load(x + i + n), b);
            c = TL.MultiplyAdd(TL.Raw(w + o + (2 * h)), TL.Load(x + i + (2 * n)), c);
            d = TL.MultiplyAdd(TL.Raw(w + o + (3 * h)), TL.Load(x + i + (3 * n)), d);
        }

        for (; i + n <= k; i += n)
        {
            a = TL.MultiplyAdd(TL.Raw(w + ((nint)i * 2)), TL.Load(x + i), a);
        }

        return TL.Sum(TL.Add(TL.Add(a, b), TL.Add(c, d))) + DotTail((ushort*)w, x, i, k);
    }
}
