using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>Turns stored weight elements (F32, F16 or BF16) into floats inside a dot-product loop, so decode reads each
/// weight once from memory and never writes a converted copy.</summary>
internal unsafe interface IWeightLoader
{
    /// <summary>Bytes per stored element.</summary>
    static abstract int ElementSize { get; }

    /// <summary>Eight consecutive elements at <paramref name="p"/> as floats (AVX2 path), exact for every value.</summary>
    static abstract Vector256<float> Load8(byte* p);

    /// <summary>Eight elements as floats by the fastest conversion, which may be wrong for special values (F16
    /// infinities and NaNs); it folds what it needs into <paramref name="flags"/> so <see cref="AnySpecial"/> can say
    /// afterwards whether a slow exact pass is needed.</summary>
    static abstract Vector256<float> Load8Fast(byte* p, ref Vector256<uint> flags);

    /// <summary>Whether any element folded into <paramref name="flags"/> needs the exact conversion.</summary>
    static abstract bool AnySpecial(Vector256<uint> flags);

    /// <summary>One element at <paramref name="p"/> as a float (tails and the scalar reference).</summary>
    static abstract float Load1(byte* p);
}

/// <summary>F32 weights: a plain load.</summary>
internal readonly unsafe struct F32Loader : IWeightLoader
{
    public static int ElementSize => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Vector256.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8Fast(byte* p, ref Vector256<uint> flags) => Vector256.Load((float*)p);

    public static bool AnySpecial(Vector256<uint> flags) => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => *(float*)p;
}

/// <summary>BF16 weights: the upper half of an F32, so widening and shifting left by 16 is exact.</summary>
internal readonly unsafe struct BF16Loader : IWeightLoader
{
    public static int ElementSize => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)p), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8Fast(byte* p, ref Vector256<uint> flags) => Load8(p);

    public static bool AnySpecial(Vector256<uint> flags) => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => BFloat16.ToSingle(*(ushort*)p);
}

/// <summary>
/// F16 weights converted exactly in registers (.NET exposes no F16C instruction): the exponent and mantissa bits are
/// moved to F32 positions and the result multiplied by 2¹¹², which rebiases the exponent and turns F16 subnormals into
/// the right F32 normals in one multiply; infinities and NaNs get an all-ones exponent first; the sign is OR-ed in.
/// DenseLinear decodes through these kernels only F16 tensors that hold an infinity or NaN; all others take the
/// faster <see cref="F16RowKernels"/>.
/// </summary>
internal readonly unsafe struct F16Loader : IWeightLoader
{
    public static int ElementSize => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p)
    {
        Vector256<int> h = Avx2.ConvertToVector256Int32((ushort*)p);
        Vector256<int> magnitude = Avx2.ShiftLeftLogical(h, 13) & Vector256.Create(0x0FFFE000);
        // F16 exponent 31 (inf/NaN) lands at ≥ 0x0F800000; giving it F32 exponent bits 0x70 makes the multiply keep it inf/NaN.
        Vector256<int> special = Avx2.CompareGreaterThan(magnitude, Vector256.Create(0x0F7FFFFF)) & Vector256.Create(0x70000000);
        Vector256<float> value = Fma.MultiplyAdd((magnitude | special).AsSingle(), Vector256.Create(0x77800000).AsSingle(), Vector256.Create(-0f));
        return (value.AsInt32() | (Avx2.ShiftLeftLogical(h, 16) & Vector256.Create(unchecked((int)0x80000000)))).AsSingle();
    }

    /// <summary>
    /// Four operations instead of ten: the half is sign-extended, so after a shift left by 13 its sign is already bit 31
    /// and masking bits 28–30 leaves sign, exponent and mantissa in F32 positions; the multiply by 2¹¹² rebiases (and
    /// normalises subnormals). Only exponent 31 (inf/NaN) comes out wrong (finite, ≥ 65536), so the magnitude bits are
    /// max-folded into <paramref name="flags"/> and <see cref="AnySpecial"/> reports whether any element had it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8Fast(byte* p, ref Vector256<uint> flags)
    {
        Vector256<int> bits = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((short*)p), 13) & Vector256.Create(unchecked((int)0x8FFFE000));
        flags = Avx2.Max(flags, Avx2.ShiftLeftLogical(bits, 1).AsUInt32());
        return Fma.MultiplyAdd(bits.AsSingle(), Vector256.Create(0x77800000).AsSingle(), Vector256.Create(-0f)); // FMA, not vmulps: no slow path for subnormal inputs (Int4Kernels.HalvesToSingles)
    }

    /// <summary>F16 exponent 31, shifted to bits 24–28 of the flags.</summary>
    public static bool AnySpecial(Vector256<uint> flags) => Vector256.GreaterThanOrEqualAny(flags, Vector256.Create(0x1F000000u));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => (float)*(Half*)p;
}

/// <summary>
/// Decode dot products of stored float rows with an F32 vector, conversion fused into the multiply-add: four rows at
/// a time share each load of x and keep four independent accumulators, and nothing is written but the four results.
/// </summary>
[SkipLocalsInit]
internal static unsafe class DenseRowKernels
{
    /// <summary>Scalar reference: Σ w[i]·x[i] in double over <paramref name="k"/> elements.</summary>
    internal static float DotReference<T>(byte* w, float* x, int k)
        where T : IWeightLoader
    {
        double sum = 0;
        for (int i = 0; i < k; i++)
        {
            sum += (double)T.Load1(w + ((nint)i * T.ElementSize)) * x[i];
        }

        return (float)sum;
    }

    /// <summary>Dot products of four rows starting at <paramref name="w"/>, <paramref name="strideBytes"/> apart, with x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4<T>(byte* w, nint strideBytes, float* x, int k, float* result)
        where T : IWeightLoader
    {
        int i = 0;
        float r0 = 0, r1 = 0, r2 = 0, r3 = 0;
        byte* w1 = w + strideBytes, w2 = w1 + strideBytes, w3 = w2 + strideBytes;
        if (Avx2.IsSupported && Fma.IsSupported && k >= 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<uint> flags = default;
            for (; i + 8 <= k; i += 8)
            {
                Vector256<float> xv = Avx.LoadVector256(x + i);
                nint o = (nint)i * T.ElementSize;
                a0 = Fma.MultiplyAdd(T.Load8Fast(w + o, ref flags), xv, a0);
                a1 = Fma.MultiplyAdd(T.Load8Fast(w1 + o, ref flags), xv, a1);
                a2 = Fma.MultiplyAdd(T.Load8Fast(w2 + o, ref flags), xv, a2);
                a3 = Fma.MultiplyAdd(T.Load8Fast(w3 + o, ref flags), xv, a3);
            }

            if (T.AnySpecial(flags))
            {
                // Rare (inf/NaN weights): redo these rows with the exact conversion.
                a0 = a1 = a2 = a3 = default;
                for (i = 0; i + 8 <= k; i += 8)
                {
                    Vector256<float> xv = Avx.LoadVector256(x + i);
                    nint o = (nint)i * T.ElementSize;
                    a0 = Fma.MultiplyAdd(T.Load8(w + o), xv, a0);
                    a1 = Fma.MultiplyAdd(T.Load8(w1 + o), xv, a1);
                    a2 = Fma.MultiplyAdd(T.Load8(w2 + o), xv, a2);
                    a3 = Fma.MultiplyAdd(T.Load8(w3 + o), xv, a3);
                }
            }

            r0 = Vector256.Sum(a0);
            r1 = Vector256.Sum(a1);
            r2 = Vector256.Sum(a2);
            r3 = Vector256.Sum(a3);
        }

        for (; i < k; i++)
        {
            nint o = (nint)i * T.ElementSize;
            float xi = x[i];
            r0 += T.Load1(w + o) * xi;
            r1 += T.Load1(w1 + o) * xi;
            r2 += T.Load1(w2 + o) * xi;
            r3 += T.Load1(w3 + o) * xi;
        }

        result[0] = r0;
        result[1] = r1;
        result[2] = r2;
        result[3] = r3;
    }

    /// <summary>Dot product of one row with x (the rows left over after the 4-row tiles).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot1<T>(byte* w, float* x, int k)
        where T : IWeightLoader
    {
        int i = 0;
        float r = 0;
        if (Avx2.IsSupported && Fma.IsSupported && k >= 16)
        {
            Vector256<float> a0 = default, a1 = default;
            for (; i + 16 <= k; i += 16)
            {
                nint o = (nint)i * T.ElementSize;
                a0 = Fma.MultiplyAdd(T.Load8(w + o), Avx.LoadVector256(x + i), a0);
                a1 = Fma.MultiplyAdd(T.Load8(w + o + (8 * T.ElementSize)), Avx.LoadVector256(x + i + 8), a1);
            }

            r = Vector256.Sum(a0 + a1);
        }

        for (; i < k; i++)
        {
            r += T.Load1(w + ((nint)i * T.ElementSize)) * x[i];
        }

        return r;
    }

    /// <summary>y[r] = row r · x for rows [start, end) of a [rows, k] matrix at <paramref name="w"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MatVecRows<T>(byte* w, int k, float* x, float* y, int start, int end)
        where T : IWeightLoader
    {
        nint stride = (nint)k * T.ElementSize;
        int r = start;
        for (; r + 4 <= end; r += 4)
        {
            Dot4<T>(w + (r * stride), stride, x, k, y + r);
        }

        for (; r < end; r++)
        {
            y[r] = Dot1<T>(w + (r * stride), x, k);
        }
    }
}
