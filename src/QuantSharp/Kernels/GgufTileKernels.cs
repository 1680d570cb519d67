using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Four GGUF rows (<c>rowBytes</c> apart) times one token's activations at once, for Q8_0, Q4_K and TQ2_0 (Q4_0 runs on
/// its split layout, <see cref="Q4_0SplitLayout"/>, through the int4 kernels): each
/// activation chunk load, activation-sum term and activation-scale broadcast is shared by the four rows (the tiling of
/// <see cref="Int4Kernels.Dot4"/>). Codes stay unsigned and go through <c>vpdpbusd</c> where AVX-VNNI exists (else
/// <c>maddubs</c> + <c>madd</c>); the code offset (−1 for TQ2_0) is folded into the integer sum as
/// <c>−offset · Σx</c>, so each 32-block's integer dot equals the one of <see cref="GgufKernels.DotScalar"/> exactly;
/// only the float accumulation order differs (Q8_0, signed, uses the sign trick |w| · sign(x, w)). Without AVX2 every
/// row goes through the scalar reference.
/// </summary>
[SkipLocalsInit]
internal static unsafe class GgufTileKernels
{
    /// <summary>True for the types with a 4-row tile.</summary>
    public static bool HasTile(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_K or GgmlType.TQ2_0;

    /// <summary>Writes the dots of rows <paramref name="w"/> + i · <paramref name="rowBytes"/> (i = 0..3) with
    /// <paramref name="x"/> to <paramref name="result"/>[0..3].</summary>
    public static void Dot4(GgmlType type, byte* w, long rowBytes, in GgufActivations x, int blocks32, float* result)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            Dot4Scalar(type, w, rowBytes, x, blocks32, result);
            return;
        }

        switch (type)
        {
            case GgmlType.Q8_0:
                Q8_0(w, rowBytes, x, blocks32, result);
                break;
            case GgmlType.Q4_K:
                Q4_K(w, rowBytes, x, blocks32 / 8, result);
                break;
            case GgmlType.TQ2_0:
                TQ2_0(w, rowBytes, x, blocks32 / 8, result);
                break;
            default:
                throw new NotSupportedException(type.ToString());
        }
    }

    /// <summary>The scalar reference of <see cref="Dot4"/>: <see cref="GgufKernels.DotScalar"/> per row.</summary>
    public static void Dot4Scalar(GgmlType type, byte* w, long rowBytes, in GgufActivations x, int blocks32, float* result)
    {
        for (int i = 0; i < 4; i++)
        {
            result[i] = GgufKernels.DotScalar(type, w + i * rowBytes, x, blocks32);
        }
    }

    /// <summary>addend + eight int32 partial sums of u·x over 32 bytes (u unsigned ≤ 127, x signed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> DotU(Vector256<int> addend, Vector256<byte> u, Vector256<sbyte> x, bool vnni)
    {
        Vector256<int> dot = vnni
            ? AvxVnni.MultiplyWideningAndAdd(addend, u, x)
            : Avx2.Add(addend, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, x), Vector256.Create((short)1)));
        return Avx.ConvertToVector256Single(dot);
    }

    /// <summary>Four block scales as floats in one vector, exactly as <see cref="GgufKernels.HalfToSingle"/> converts
    /// each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Halves4ToSingle(Half* h0, Half* h1, Half* h2, Half* h3)
    {
        Vector128<int> h = Vector128.Create(*(ushort*)h0, *(ushort*)h1, *(ushort*)h2, *(ushort*)h3);
        Vector128<int> exponent = Vector128.Create(0x7C00);
        if (Vector128.EqualsAny(h & exponent, exponent))
        {
            return Vector128.Create(GgufKernels.HalfToSingle(*h0), GgufKernels.HalfToSingle(*h1), GgufKernels.HalfToSingle(*h2), GgufKernels.HalfToSingle(*h3));
        }

        Vector128<int> bits = Sse2.ShiftLeftLogical(h & Vector128.Create(0x7FFF), 13) | Sse2.ShiftLeftLogical(h & Vector128.Create(0x8000), 16);
        return bits.AsSingle() * Vector128.Create(5.192296858534828e33f); // 2^112
    }

    /// <summary>Eight int32 partial sums of w·x for signed w and x (sign trick: |w| · sign(x, w)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> DotS(Vector256<sbyte> w, Vector256<sbyte> x, bool vnni)
        => DotU(default, Avx2.Abs(w), Avx2.Sign(x, w), vnni);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q8_0(byte* w, long rowBytes, in GgufActivations x, int blocks, float* result)
    {
        var b0 = (BlockQ8_0*)w;
        var b1 = (BlockQ8_0*)(w + rowBytes);
        var b2 = (BlockQ8_0*)(w + 2 * rowBytes);
        var b3 = (BlockQ8_0*)(w + 3 * rowBytes);
        bool vnni = AvxVnni.IsSupported;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        sbyte* xq = x.Q;
        float* xs = x.Scale;
        for (int i = 0; i < blocks; i++)
        {
            Vector256<sbyte> qv = Avx.LoadVector256(xq + 32 * i);
            Vector128<float> d4 = Halves4ToSingle(&b0[i].D, &b1[i].D, &b2[i].D, &b3[i].D) * xs[i];
            Vector256<float> d8 = Vector256.Create(d4, d4);
            acc0 = Fma.MultiplyAdd(DotS(Avx.LoadVector256(b0[i].Qs), qv, vnni), Avx.Permute(d8, 0b00_00_00_00), acc0);
            acc1 = Fma.MultiplyAdd(DotS(Avx.LoadVector256(b1[i].Qs), qv, vnni), Avx.Permute(d8, 0b01_01_01_01), acc1);
            acc2 = Fma.MultiplyAdd(DotS(Avx.LoadVector256(b2[i].Qs), qv, vnni), Avx.Permute(d8, 0b10_10_10_10), acc2);
            acc3 = Fma.MultiplyAdd(DotS(Avx.LoadVector256(b3[i].Qs), qv, vnni), Avx.Permute(d8, 0b11_11_11_11), acc3);
        }

        result[0] = Vector256.Sum(acc0);
        result[1] = Vector256.Sum(acc1);
        result[2] = Vector256.Sum(acc2);
        result[3] = Vector256.Sum(acc3);
    }

    /// <summary>The eight 6-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K super-block, unpacked with
    /// llama.cpp's 32-bit mask trick (same values as <see cref="GgufDequantize.ScaleMinK4"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> ScalesMinsK4(byte* scales)
    {
        const uint k1 = 0x3F3F3F3F, k2 = 0x0F0F0F0F, k3 = 0x03030303;
        uint u0 = Unsafe.ReadUnaligned<uint>(scales), u1 = Unsafe.ReadUnaligned<uint>(scales + 4), u2 = Unsafe.ReadUnaligned<uint>(scales + 8);
        uint sc0 = u0 & k1;
        uint sc1 = (u2 & k2) | (((u0 >> 6) & k3) << 4);
        uint m0 = u1 & k1;
        uint m1 = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4);
        return Vector128.Create(sc0, sc1, m0, m1).AsByte();
    }

    /// <summary>Per row of a Q4_K super-block: the eight block factors d · sc_s · dx_s into <paramref name="factors"/>,
    /// and dmin · m_s · dx_s · Σx_s added to <paramref name="minAcc"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_KFactors(BlockQ4_K* b, Vector256<float> dx, Vector256<float> dxSum, float* factors, ref Vector256<float> minAcc)
    {
        Vector128<byte> sm = ScalesMinsK4(b->Scales);
        Vector256<float> sc = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(sm));
        Vector256<float> m = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(sm, 8)));
        Avx.Store(factors, Avx.Multiply(Avx.Multiply(sc, dx), Vector256.Create(GgufKernels.HalfToSingle(b->D))));
        minAcc = Fma.MultiplyAdd(Avx.Multiply(m, dxSum), Vector256.Create(GgufKernels.HalfToSingle(b->DMin)), minAcc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Q4_K(byte* w, long rowBytes, in GgufActivations x, int superBlocks, float* result)
    {
        var b0 = (BlockQ4_K*)w;
        var b1 = (BlockQ4_K*)(w + rowBytes);
        var b2 = (BlockQ4_K*)(w + 2 * rowBytes);
        var b3 = (BlockQ4_K*)(w + 3 * rowBytes);
        Vector256<byte> mask = Vector256.Create((byte)0x0F);
        bool vnni = AvxVnni.IsSupported;
        float* f = stackalloc float[32];
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector256<float> min0 = default, min1 = default, min2 = default, min3 = default;
        for (int i = 0; i < superBlocks; i++)
        {
            Vector256<float> dx = Avx.LoadVector256(x.Scale + 8 * i);
            Vector256<float> dxSum = Avx.Multiply(dx, Avx.ConvertToVector256Single(Avx.LoadVector256(x.Sum + 8 * i)));
            Q4_KFactors(b0 + i, dx, dxSum, f, ref min0);
            Q4_KFactors(b1 + i, dx, dxSum, f + 8, ref min1);
            Q4_KFactors(b2 + i, dx, dxSum, f + 16, ref min2);
            Q4_KFactors(b3 + i, dx, dxSum, f + 24, ref min3);
            sbyte* xq = x.Q + 256 * i;
            for (int c = 0; c < 4; c++)
            {
                Vector256<sbyte> qLo = Avx.LoadVector256(xq + 64 * c);
                Vector256<sbyte> qHi = Avx.LoadVector256(xq + 64 * c + 32);
                Vector256<byte> w0 = Avx.LoadVector256(b0[i].Qs + 32 * c);
                Vector256<byte> w1 = Avx.LoadVector256(b1[i].Qs + 32 * c);
                Vector256<byte> w2 = Avx.LoadVector256(b2[i].Qs + 32 * c);
                Vector256<byte> w3 = Avx.LoadVector256(b3[i].Qs + 32 * c);
                int s = 2 * c;
                acc0 = Fma.MultiplyAdd(DotU(default, w0 & mask, qLo, vnni), Vector256.Create(f[s]), acc0);
                acc1 = Fma.MultiplyAdd(DotU(default, w1 & mask, qLo, vnni), Vector256.Create(f[8 + s]), acc1);
                acc2 = Fma.MultiplyAdd(DotU(default, w2 & mask, qLo, vnni), Vector256.Create(f[16 + s]), acc2);
                acc3 = Fma.MultiplyAdd(DotU(default, w3 & mask, qLo, vnni), Vector256.Create(f[24 + s]), acc3);
                acc0 = Fma.MultiplyAdd(DotU(default, Avx2.ShiftRightLogical(w0.AsUInt16(), 4).AsByte() & mask, qHi, vnni), Vector256.Create(f[s + 1]), acc0);
                acc1 = Fma.MultiplyAdd(DotU(default, Avx2.ShiftRightLogical(w1.AsUInt16(), 4).AsByte() & mask, qHi, vnni), Vector256.Create(f[8 + s + 1]), acc1);
                acc2 = Fma.MultiplyAdd(DotU(default, Avx2.ShiftRightLogical(w2.AsUInt16(), 4).AsByte() & mask, qHi, vnni), Vector256.Create(f[16 + s + 1]), acc2);
                acc3 = Fma.MultiplyAdd(DotU(default, Avx2.ShiftRightLogical(w3.AsUInt16(), 4).AsByte() & mask, qHi, vnni), Vector256.Create(f[24 + s + 1]), acc3);
            }
        }

        result[0] = Vector256.Sum(acc0) - Vector256.Sum(min0);
        result[1] = Vector256.Sum(acc1) - Vector256.Sum(min1);
        result[2] = Vector256.Sum(acc2) - Vector256.Sum(min2);
        result[3] = Vector256.Sum(acc3) - Vector256.Sum(min3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TQ2_0(byte* w, long rowBytes, in GgufActivations x, int superBlocks, float* result)
    {
        var b0 = (BlockTQ2_0*)w;
        var b1 = (BlockTQ2_0*)(w + rowBytes);
        var b2 = (BlockTQ2_0*)(w + 2 * rowBytes);
        var b3 = (BlockTQ2_0*)(w + 3 * rowBytes);
        Vector256<byte> mask2 = Vector256.Create((byte)0x03);
        bool vnni = AvxVnni.IsSupported;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int i = 0; i < superBlocks; i++)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int c = 0; c < 2; c++)
            {
                Vector256<ushort> p0 = Avx.LoadVector256(b0[i].Qs + 32 * c).AsUInt16();
                Vector256<ushort> p1 = Avx.LoadVector256(b1[i].Qs + 32 * c).AsUInt16();
                Vector256<ushort> p2 = Avx.LoadVector256(b2[i].Qs + 32 * c).AsUInt16();
                Vector256<ushort> p3 = Avx.LoadVector256(b3[i].Qs + 32 * c).AsUInt16();
                for (int n = 0; n < 4; n++)
                {
                    int xb = 8 * i + 4 * c + n;
                    Vector256<sbyte> qv = Avx.LoadVector256(x.Q + 32 * xb);
                    Vector256<int> neg = Vector256.CreateScalar(-x.Sum[xb]);
                    Vector256<float> dx = Vector256.Create(x.Scale[xb]);
                    Vector128<ushort> shift = Vector128.CreateScalar((ushort)(2 * n));
                    s0 = Fma.MultiplyAdd(DotU(neg, Avx2.ShiftRightLogical(p0, shift).AsByte() & mask2, qv, vnni), dx, s0);
                    s1 = Fma.MultiplyAdd(DotU(neg, Avx2.ShiftRightLogical(p1, shift).AsByte() & mask2, qv, vnni), dx, s1);
                    s2 = Fma.MultiplyAdd(DotU(neg, Avx2.ShiftRightLogical(p2, shift).AsByte() & mask2, qv, vnni), dx, s2);
                    s3 = Fma.MultiplyAdd(DotU(neg, Avx2.ShiftRightLogical(p3, shift).AsByte() & mask2, qv, vnni), dx, s3);
                }
            }

            acc0 = Fma.MultiplyAdd(s0, Vector256.Create(GgufKernels.HalfToSingle(b0[i].D)), acc0);
            acc1 = Fma.MultiplyAdd(s1, Vector256.Create(GgufKernels.HalfToSingle(b1[i].D)), acc1);
            acc2 = Fma.MultiplyAdd(s2, Vector256.Create(GgufKernels.HalfToSingle(b2[i].D)), acc2);
            acc3 = Fma.MultiplyAdd(s3, Vector256.Create(GgufKernels.HalfToSingle(b3[i].D)), acc3);
        }

        result[0] = Vector256.Sum(acc0);
        result[1] = Vector256.Sum(acc1);
        result[2] = Vector256.Sum(acc2);
        result[3] = Vector256.Sum(acc3);
    }
}
