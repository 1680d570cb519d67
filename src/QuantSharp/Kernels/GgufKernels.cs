using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Row · activation dot products computed directly on GGUF blocks (no dequantization to floats): weights and the
/// int8-quantized activations (<see cref="GgufActivations"/>) are multiplied in integers per 32 values, then scaled
/// once per block. Each type has an AVX2 path (maddubs/madd via <see cref="Avx2.MultiplyAddAdjacent(Vector256{byte}, Vector256{sbyte})"/>)
/// and a scalar reference that computes the same integer sums and is the fallback on other CPUs; tests compare the two.
/// </summary>
[SkipLocalsInit]
internal static unsafe class GgufKernels
{
    /// <summary>Dot of a row of <paramref name="blocks32"/> × 32 weights of <paramref name="type"/> with one token's activations.</summary>
    /// <remarks>Q4_0 in its block layout has only the scalar reference: with AVX2 it runs on its split layout
    /// (<see cref="Q4_0SplitLayout"/>) through the int4 kernels instead.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(GgmlType type, byte* w, in GgufActivations x, int blocks32) => Avx2.IsSupported && Fma.IsSupported && type != GgmlType.Q4_0
        ? DotAvx2(type, w, x, blocks32)
        : DotScalar(type, w, x, blocks32);

    /// <summary>True for the types with a direct integer kernel.</summary>
    public static bool HasDirectKernel(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_K or GgmlType.Q6_K or GgmlType.TQ2_0 or GgmlType.Q2_0 or GgmlType.IQ4_NL;

    public static float DotAvx2(GgmlType type, byte* w, in GgufActivations x, int blocks32) => type switch
    {
        GgmlType.Q8_0 => Q8_0Avx2(w, x, blocks32),
        GgmlType.Q4_K => Q4_KAvx2(w, x, blocks32 / 8),
        GgmlType.Q6_K => Q6_KAvx2(w, x, blocks32 / 8),
        GgmlType.TQ2_0 => TQ2_0Avx2(w, x, blocks32 / 8),
        GgmlType.Q2_0 => Q2_0Avx2(w, x, blocks32 / 2),
        GgmlType.IQ4_NL => IQ4_NLAvx2(w, x, blocks32),
        _ => throw new NotSupportedException(type.ToString()),
    };

    public static float DotScalar(GgmlType type, byte* w, in GgufActivations x, int blocks32) => type switch
    {
        GgmlType.Q8_0 => Q8_0Scalar(w, x, blocks32),
        GgmlType.Q4_0 => Q4_0Scalar(w, x, blocks32),
        GgmlType.Q4_K => Q4_KScalar(w, x, blocks32 / 8),
        GgmlType.Q6_K => Q6_KScalar(w, x, blocks32 / 8),
        GgmlType.TQ2_0 => TQ2_0Scalar(w, x, blocks32 / 8),
        GgmlType.Q2_0 => Q2_0Scalar(w, x, blocks32 / 2),
        GgmlType.IQ4_NL => IQ4_NLScalar(w, x, blocks32),
        _ => throw new NotSupportedException(type.ToString()),
    };

    // ---------------------------------------------------------------- scalar references

    private static int DotI8(sbyte* w, sbyte* x, int n)
    {
        int s = 0;
        for (int i = 0; i < n; i++)
        {
            s += w[i] * x[i];
        }

        return s;
    }

    internal static float Q8_0Scalar(byte* w, in GgufActivations x, int blocks)
    {
        var b = (BlockQ8_0*)w;
        float acc = 0;
        for (int i = 0; i < blocks; i++)
        {
            acc += (float)b[i].D * x.Scale[i] * DotI8(b[i].Qs, x.Q + 32 * i, 32);
        }

        return acc;
    }

    internal static float Q4_0Scalar(byte* w, in GgufActivations x, int blocks)
    {
        var b = (BlockQ4_0*)w;
        sbyte* q = stackalloc sbyte[32];
        float acc = 0;
        for (int i = 0; i < blocks; i++)
        {
            for (int j = 0; j < 16; j++)
            {
                q[j] = (sbyte)((b[i].Qs[j] & 0xF) - 8);
                q[j + 16] = (sbyte)((b[i].Qs[j] >> 4) - 8);
            }

            acc += (float)b[i].D * x.Scale[i] * DotI8(q, x.Q + 32 * i, 32);
        }

        return acc;
    }

    internal static float Q4_KScalar(byte* w, in GgufActivations x, int superBlocks)
    {
        var b = (BlockQ4_K*)w;
        sbyte* q = stackalloc sbyte[32];
        float acc = 0;
        for (int i = 0; i < superBlocks; i++)
        {
            float d = (float)b[i].D, dmin = (float)b[i].DMin;
            for (int s = 0; s < 8; s++)
            {
                GgufDequantize.ScaleMinK4(s, b[i].Scales, out int sc, out int m);
                byte* qs = b[i].Qs + 32 * (s / 2);
                int shift = 4 * (s % 2);
                for (int j = 0; j < 32; j++)
                {
                    q[j] = (sbyte)((qs[j] >> shift) & 0xF);
                }

                int xb = 8 * i + s;
                acc += d * sc * x.Scale[xb] * DotI8(q, x.Q + 32 * xb, 32) - dmin * m * x.Scale[xb] * x.Sum[xb];
            }
        }

        return acc;
    }

    internal static float Q6_KScalar(byte* w, in GgufActivations x, int superBlocks)
    {
        var b = (BlockQ6_K*)w;
        sbyte* q = stackalloc sbyte[32];
        float acc = 0;
        for (int i = 0; i < superBlocks; i++)
        {
            float d = (float)b[i].D;
            for (int h = 0; h < 2; h++)
            {
                byte* ql = b[i].Ql + 64 * h;
                byte* qh = b[i].Qh + 32 * h;
                for (int g = 0; g < 4; g++)
                {
                    byte* l = ql + 32 * (g & 1);
                    int lowShift = 4 * (g >> 1);
                    for (int j = 0; j < 32; j++)
                    {
                        q[j] = (sbyte)((((l[j] >> lowShift) & 0xF) | (((qh[j] >> (2 * g)) & 3) << 4)) - 32);
                    }

                    int xb = 8 * i + 4 * h + g;
                    sbyte* sc = b[i].Scales + 8 * h + 2 * g;
                    int dot = sc[0] * DotI8(q, x.Q + 32 * xb, 16) + sc[1] * DotI8(q + 16, x.Q + 32 * xb + 16, 16);
                    acc += d * x.Scale[xb] * dot;
                }
            }
        }

        return acc;
    }

    internal static float TQ2_0Scalar(byte* w, in GgufActivations x, int superBlocks)
    {
        var b = (BlockTQ2_0*)w;
        sbyte* q = stackalloc sbyte[32];
        float acc = 0;
        for (int i = 0; i < superBlocks; i++)
        {
            float d = (float)b[i].D;
            for (int c = 0; c < 2; c++)
            {
                for (int n = 0; n < 4; n++)
                {
                    for (int j = 0; j < 32; j++)
                    {
                        q[j] = (sbyte)(((b[i].Qs[32 * c + j] >> (2 * n)) & 3) - 1);
                    }

                    int xb = 8 * i + 4 * c + n;
                    acc += d * x.Scale[xb] * DotI8(q, x.Q + 32 * xb, 32);
                }
            }
        }

        return acc;
    }

    internal static float Q2_0Scalar(byte* w, in GgufActivations x, int blocks)
    {
        var b = (BlockQ2_0*)w;
        sbyte* q = stackalloc sbyte[32];
        float acc = 0;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)b[i].D;
            for (int h = 0; h < 2; h++)
            {
                for (int j = 0; j < 32; j++)
                {
                    int k = (32 * h) + j;
                    q[j] = (sbyte)(((b[i].Qs[k / 4] >> (2 * (k % 4))) & 3) - 1);
                }

                int xb = (2 * i) + h;
                acc += d * x.Scale[xb] * DotI8(q, x.Q + (32 * xb), 32);
            }
        }

        return acc;
    }

    internal static float IQ4_NLScalar(byte* w, in GgufActivations x, int blocks)
    {
        var b = (BlockIQ4_NL*)w;
        ReadOnlySpan<sbyte> values = BlockIQ4_NL.Values;
        sbyte* q = stackalloc sbyte[32];
        float acc = 0;
        for (int i = 0; i < blocks; i++)
        {
            for (int j = 0; j < 16; j++)
            {
                q[j] = values[b[i].Qs[j] & 0xF];
                q[j + 16] = values[b[i].Qs[j] >> 4];
            }

            acc += (float)b[i].D * x.Scale[i] * DotI8(q, x.Q + (32 * i), 32);
        }

        return acc;
    }

    // ---------------------------------------------------------------- AVX2

    /// <summary>A block scale as a float, exact for every finite half (normals and subnormals: the magnitude bits moved
    /// to F32 positions times 2¹¹²), with the library conversion only for infinities and NaNs. Inline and branch-light:
    /// <c>(float)Half</c> is a call with several branches, paid once per 32 weights, which made the Q4_0/Q8_0 decode
    /// kernels compute-bound (profile in docs/RESULTS.md).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HalfToSingle(Half h)
    {
        // No call and no data-dependent branch: Q4_0 scales have random signs (a conditional negation mispredicted half
        // the time), and a library call for inf/NaN inside the block loop made the JIT keep the accumulator in memory
        // unless dynamic PGO had marked that call cold (static code ran ~2.2x slower).
        uint bits = BitConverter.HalfToUInt16Bits(h);
        uint magnitude = bits & 0x7FFFu;
        // Normals by integer rebias; subnormals as an exact int-to-float conversion times 2^-24 (no float operation sees
        // a subnormal input, which is slow on this CPU); infinities and NaNs with their payload.
        uint normal = (magnitude << 13) + 0x38000000u;
        uint subnormal = BitConverter.SingleToUInt32Bits((int)magnitude * 5.9604645e-8f);
        uint special = 0x7F800000u | ((magnitude & 0x3FFu) << 13);
        uint f32 = magnitude >= 0x7C00u ? special : magnitude < 0x400u ? subnormal : normal;
        return BitConverter.UInt32BitsToSingle(f32 | ((bits & 0x8000u) << 16));
    }

    /// <summary>Eight int32 partial sums of w·x over 32 signed bytes (sign trick: |w| · sign(x, w) fits maddubs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotI8x32(Vector256<sbyte> w, Vector256<sbyte> x)
    {
        Vector256<short> p = Avx2.MultiplyAddAdjacent(Avx2.Sign(w, w).AsByte(), Avx2.Sign(x, w));
        return Avx2.MultiplyAddAdjacent(p, Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalSum(Vector256<float> v)
    {
        Vector128<float> s = Sse.Add(v.GetLower(), v.GetUpper());
        s = Sse.Add(s, Sse.MoveHighToLow(s, s));
        s = Sse.AddScalar(s, Sse.Shuffle(s, s, 0b01));
        return s.ToScalar();
    }

    private static float Q8_0Avx2(byte* w, in GgufActivations x, int blocks)
    {
        var b = (BlockQ8_0*)w;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        sbyte* xq = x.Q;
        float* xs = x.Scale;
        int i = 0;
        for (; i + 8 <= blocks; i += 8)
        {
            Vector256<float> factors = Int4Kernels.HalvesToSingles(Scales8(b + i)) * Avx.LoadVector256(xs + i);
            sbyte* xb = xq + 32 * i;
            Q8_0Pair(b + i, xb, factors, Vector256.Create(0), Vector256.Create(1), ref acc0, ref acc1);
            Q8_0Pair(b + i + 2, xb + 64, factors, Vector256.Create(2), Vector256.Create(3), ref acc0, ref acc1);
            Q8_0Pair(b + i + 4, xb + 128, factors, Vector256.Create(4), Vector256.Create(5), ref acc0, ref acc1);
            Q8_0Pair(b + i + 6, xb + 192, factors, Vector256.Create(6), Vector256.Create(7), ref acc0, ref acc1);
        }

        for (; i < blocks; i++)
        {
            Vector256<int> dot = DotI8x32(Avx.LoadVector256(b[i].Qs), Avx.LoadVector256(xq + 32 * i));
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(HalfToSingle(b[i].D) * xs[i]), acc0);
        }

        return HorizontalSum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q8_0Pair(BlockQ8_0* b, sbyte* xq, Vector256<float> factors, Vector256<int> index0, Vector256<int> index1, ref Vector256<float> acc0, ref Vector256<float> acc1)
    {
        Vector256<int> dot0 = DotI8x32(Avx.LoadVector256(b->Qs), Avx.LoadVector256(xq));
        Vector256<int> dot1 = DotI8x32(Avx.LoadVector256(b[1].Qs), Avx.LoadVector256(xq + 32));
        acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot0), Avx2.PermuteVar8x32(factors, index0), acc0);
        acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot1), Avx2.PermuteVar8x32(factors, index1), acc1);
    }

    /// <summary>Eight int32 partial sums of u·x for unsigned u ≤ 127, plus <paramref name="bias"/> added to the first
    /// lane (the <c>−offset·Σx</c> term of offset codes, exact in integers): one <c>vpdpbusd</c> with AVX-VNNI, else
    /// <c>maddubs</c> + <c>madd</c> + add.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> DotCodes(Vector256<byte> u, Vector256<sbyte> x, int bias) => AvxVnni.IsSupported
        ? AvxVnni.MultiplyWideningAndAdd(Vector256.CreateScalar(bias), u, x)
        : Avx2.Add(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, x), Vector256.Create((short)1)), Vector256.CreateScalar(bias));

    /// <summary>
    /// The F16 scales at offset 0 of eight blocks at <paramref name="offsets"/> bytes from
    /// <paramref name="w"/>, as floats, exact for every half: one gather of the eight 32-bit words, then the half moved
    /// to the top and shifted back with its sign (arithmetic shift by 3), masked to sign/exponent/mantissa in F32
    /// positions and multiplied by 2¹¹² (normals and subnormals); an F16 exponent of 31 (infinity, NaN) first gets the
    /// extra exponent bits that make the product infinity or NaN. No call and no branch: a call inside the block loop
    /// makes the JIT keep the vector accumulators in memory (every vector register is caller-saved on x64 Unix).
    /// Replaces eight scalar conversions (about 12 integer operations and two register moves each) per 8 blocks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> BlockScales8(byte* w, Vector256<int> offsets)
        => HighHalvesToSingles(Avx2.ShiftLeftLogical(Avx2.GatherVector256((int*)w, offsets, 1), 16));

    /// <summary>As <see cref="BlockScales8"/> for halves stored in the 2 bytes before <paramref name="w"/> + offset
    /// (a scale at the end of a block: the gathered word is the 2 bytes before it and the half, so nothing past the
    /// block is read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> BlockScales8Before(byte* w, Vector256<int> offsets)
        => HighHalvesToSingles(Avx2.GatherVector256((int*)(w - 4), offsets, 1));

    /// <summary>Eight halves held in the upper 16 bits of 32-bit lanes as exact floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> HighHalvesToSingles(Vector256<int> words) => Int4Kernels.WideHalvesToSingles(Avx2.ShiftRightArithmetic(words, 16));

    /// <summary>The F16 scales (first field) of eight consecutive blocks in one vector, from eight scalar loads (on
    /// this Zen 5 faster than one <c>vpgatherdd</c>: block-layout Q4_0 decode 29.8 → 33.3 G weights/s).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> Scales8<T>(T* b)
        where T : unmanaged
        => Vector128.Create(*(short*)b, *(short*)(b + 1), *(short*)(b + 2), *(short*)(b + 3), *(short*)(b + 4), *(short*)(b + 5), *(short*)(b + 6), *(short*)(b + 7));

    /// <summary>Q4_K: the eight 6-bit scales and mins of a super-block are unpacked at once with 32-bit word operations
    /// (no per-sub-block bit fiddling), turned into eight float factors <c>d·sc·x.Scale</c> with vector operations, and
    /// the min term <c>dmin·m·x.Scale·Σx</c> is accumulated as a vector; the inner loop is then one <see cref="DotCodes"/>,
    /// one convert and one FMA per 32 weights.</summary>
    private static float Q4_KAvx2(byte* w, in GgufActivations x, int superBlocks)
    {
        var b = (BlockQ4_K*)w;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> minAcc = Vector256<float>.Zero;
        Vector256<byte> mask = Vector256.Create((byte)0x0F);
        sbyte* xq0 = x.Q;
        float* xs0 = x.Scale;
        int* xsum0 = x.Sum;
        for (int i = 0; i < superBlocks; i++)
        {
            // d, dmin and the 12 scale bytes are the block's first 16 bytes: all unpacked in registers.
            Vector128<byte> head = Sse2.LoadVector128((byte*)(b + i));
            // Only d and dmin are converted: the other lanes are zeroed, because the scale bytes read as halves can be
            // subnormal, and a multiply with subnormal inputs takes a slow microcode path here (measured 3x slower).
            Vector256<float> dd = Int4Kernels.HalvesToSingles(Vector128.CreateScalar(head.AsUInt32().ToScalar()).AsInt16());
            ScaleMinK4(head, out Vector256<float> sc, out Vector256<float> m);
            Vector256<float> xs = Avx.LoadVector256(xs0 + 8 * i);
            Vector256<float> factors = sc * xs * Avx2.PermuteVar8x32(dd, Vector256<int>.Zero);
            Vector256<float> xsum = Avx.ConvertToVector256Single(Avx.LoadVector256(xsum0 + 8 * i));
            minAcc = Fma.MultiplyAdd(m * xs, xsum * Avx2.PermuteVar8x32(dd, Vector256.Create(1)), minAcc);
            sbyte* xq = xq0 + 256 * i;
            byte* qs = b[i].Qs;
            // Unrolled by hand so each factor comes from a register permute with a constant index.
            Q4_KPair(qs, xq, mask, factors, Vector256.Create(0), Vector256.Create(1), ref acc0, ref acc1);
            Q4_KPair(qs + 32, xq + 64, mask, factors, Vector256.Create(2), Vector256.Create(3), ref acc0, ref acc1);
            Q4_KPair(qs + 64, xq + 128, mask, factors, Vector256.Create(4), Vector256.Create(5), ref acc0, ref acc1);
            Q4_KPair(qs + 96, xq + 192, mask, factors, Vector256.Create(6), Vector256.Create(7), ref acc0, ref acc1);
        }

        return HorizontalSum(acc0 + acc1) - HorizontalSum(minAcc);
    }

    /// <summary>The eight 6-bit scales and mins of a Q4_K super-block as floats, from its first 16 bytes (d, dmin, the 12
    /// scale bytes) with 128-bit word operations: dwords [w0, w2, w1, w2] masked to the low bits and dwords
    /// [w0, w0, w1, w1] shifted for the high bits give [scales 0–3, scales 4–7, mins 0–3, mins 4–7] (the same values as
    /// <see cref="GgufDequantize.ScaleMinK4"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ScaleMinK4(Vector128<byte> head, out Vector256<float> scales, out Vector256<float> mins)
    {
        Vector128<uint> words = head.AsUInt32();
        Vector128<uint> lowWords = Sse2.Shuffle(words, 0b11_10_11_01); // [w0, w2, w1, w2]
        Vector128<uint> highWords = Sse2.Shuffle(words, 0b10_10_01_01); // [w0, w0, w1, w1]
        Vector128<uint> low = Avx2.ShiftRightLogicalVariable(lowWords, Vector128.Create(0u, 0, 0, 4)) & Vector128.Create(0x3F3F3F3Fu, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F);
        Vector128<uint> high = Sse2.ShiftLeftLogical(Sse2.ShiftRightLogical(highWords, 6) & Vector128.Create(0u, 0x03030303, 0, 0x03030303), 4);
        Vector128<byte> bytes = (low | high).AsByte();
        scales = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(bytes));
        mins = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(bytes, 8)));
    }

    /// <summary>64 weights of a Q4_K super-block: 32 bytes whose low nibbles are sub-block 2c and high nibbles 2c+1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_KPair(byte* qs, sbyte* xq, Vector256<byte> mask, Vector256<float> factors, Vector256<int> lowIndex, Vector256<int> highIndex, ref Vector256<float> acc0, ref Vector256<float> acc1)
    {
        Vector256<byte> q = Avx.LoadVector256(qs);
        Vector256<int> dot0 = DotCodes(q & mask, Avx.LoadVector256(xq), 0);
        Vector256<int> dot1 = DotCodes(Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & mask, Avx.LoadVector256(xq + 32), 0);
        acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot0), Avx2.PermuteVar8x32(factors, lowIndex), acc0);
        acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot1), Avx2.PermuteVar8x32(factors, highIndex), acc1);
    }

    private static float Q6_KAvx2(byte* w, in GgufActivations x, int superBlocks)
    {
        var b = (BlockQ6_K*)w;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> mask4 = Vector256.Create((byte)0x0F);
        Vector256<byte> mask2 = Vector256.Create((byte)0x03);
        Vector256<sbyte> bias = Vector256.Create((sbyte)32);
        for (int i = 0; i < superBlocks; i++)
        {
            float d = HalfToSingle(b[i].D);
            for (int h = 0; h < 2; h++)
            {
                Vector256<byte> l0 = Avx.LoadVector256(b[i].Ql + 64 * h);
                Vector256<byte> l1 = Avx.LoadVector256(b[i].Ql + 64 * h + 32);
                Vector256<byte> qh = Avx.LoadVector256(b[i].Qh + 32 * h);
                for (int g = 0; g < 4; g++)
                {
                    Vector256<byte> l = (g & 1) == 0 ? l0 : l1;
                    Vector256<byte> low = (g >> 1) == 0 ? Avx2.And(l, mask4) : Avx2.And(Avx2.ShiftRightLogical(l.AsUInt16(), 4).AsByte(), mask4);
                    Vector256<byte> high = Avx2.And(Avx2.ShiftRightLogical(qh.AsUInt16(), Vector128.CreateScalar((ushort)(2 * g))).AsByte(), mask2);
                    Vector256<byte> q6 = Avx2.Or(low, Avx2.ShiftLeftLogical(high.AsUInt16(), 4).AsByte());
                    Vector256<sbyte> q = Avx2.Subtract(q6.AsSByte(), bias);
                    int xb = 8 * i + 4 * h + g;
                    Vector256<int> dot = DotI8x32(q, Avx.LoadVector256(x.Q + 32 * xb));
                    sbyte* sc = b[i].Scales + 8 * h + 2 * g;
                    float f = d * x.Scale[xb];
                    float f0 = f * sc[0], f1 = f * sc[1];
                    acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(f0, f0, f0, f0, f1, f1, f1, f1), acc);
                }
            }
        }

        return HorizontalSum(acc);
    }

    /// <summary>TQ2_0 on unsigned codes: <c>Σ (q − 1)·x = Σ q·x − Σx</c>, so the 2-bit codes go straight into
    /// <see cref="DotCodes"/> with <c>−Σx</c> as the integer starting value; four independent accumulators.</summary>
    private static float TQ2_0Avx2(byte* w, in GgufActivations x, int superBlocks)
    {
        var b = (BlockTQ2_0*)w;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero, acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        Vector256<byte> mask2 = Vector256.Create((byte)0x03);
        sbyte* xq0 = x.Q;
        float* xs0 = x.Scale;
        int* xsum0 = x.Sum;
        for (int i = 0; i < superBlocks; i++)
        {
            // The eight blocks' factors d·x.Scale in one register, each taken by a constant-index permute.
            Vector256<float> factors = Avx.LoadVector256(xs0 + 8 * i) * Vector256.Create(HalfToSingle(b[i].D));
            sbyte* xq = xq0 + 256 * i;
            int* sums = xsum0 + 8 * i;
            TQ2_0Quad(b[i].Qs, xq, sums, mask2, factors, 0, ref acc0, ref acc1, ref acc2, ref acc3);
            TQ2_0Quad(b[i].Qs + 32, xq + 128, sums + 4, mask2, factors, 4, ref acc0, ref acc1, ref acc2, ref acc3);
        }

        return HorizontalSum((acc0 + acc1) + (acc2 + acc3));
    }

    /// <summary>128 weights of a TQ2_0 super-block: 32 bytes holding four 32-weight blocks in bit pairs 0–1, 2–3, 4–5, 6–7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TQ2_0Quad(byte* qs, sbyte* xq, int* sums, Vector256<byte> mask2, Vector256<float> factors, int first, ref Vector256<float> acc0, ref Vector256<float> acc1, ref Vector256<float> acc2, ref Vector256<float> acc3)
    {
        Vector256<ushort> packed = Avx.LoadVector256(qs).AsUInt16();
        Vector256<int> dot0 = DotCodes(packed.AsByte() & mask2, Avx.LoadVector256(xq), -sums[0]);
        Vector256<int> dot1 = DotCodes(Avx2.ShiftRightLogical(packed, 2).AsByte() & mask2, Avx.LoadVector256(xq + 32), -sums[1]);
        Vector256<int> dot2 = DotCodes(Avx2.ShiftRightLogical(packed, 4).AsByte() & mask2, Avx.LoadVector256(xq + 64), -sums[2]);
        Vector256<int> dot3 = DotCodes(Avx2.ShiftRightLogical(packed, 6).AsByte() & mask2, Avx.LoadVector256(xq + 96), -sums[3]);
        acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot0), Avx2.PermuteVar8x32(factors, Vector256.Create(first)), acc0);
        acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot1), Avx2.PermuteVar8x32(factors, Vector256.Create(first + 1)), acc1);
        acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot2), Avx2.PermuteVar8x32(factors, Vector256.Create(first + 2)), acc2);
        acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot3), Avx2.PermuteVar8x32(factors, Vector256.Create(first + 3)), acc3);
    }

    /// <summary>Q2_0 on unsigned codes (<c>Σ (q − 1)·x = Σ q·x − Σx</c>), two blocks per step: their 2 × 16 code bytes
    /// in one register, the four bit pairs shifted out (weight 4m + n is pair n of byte m) and interleaved back into
    /// weight order by byte then word unpacks, each lane one block; the tail block goes through the scalar reference.</summary>
    private static float Q2_0Avx2(byte* w, in GgufActivations x, int blocks)
    {
        var b = (BlockQ2_0*)w;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero, acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        Vector256<byte> mask2 = Vector256.Create((byte)0x03);
        int i = 0;
        for (; i + 1 < blocks; i += 2)
        {
            Vector256<byte> v = Vector256.Create(Vector128.Load(b[i].Qs), Vector128.Load(b[i + 1].Qs));
            Vector256<ushort> u = v.AsUInt16();
            Vector256<byte> s0 = v & mask2, s1 = Avx2.ShiftRightLogical(u, 2).AsByte() & mask2;
            Vector256<byte> s2 = Avx2.ShiftRightLogical(u, 4).AsByte() & mask2, s3 = Avx2.ShiftRightLogical(u, 6).AsByte() & mask2;
            Vector256<ushort> lo01 = Avx2.UnpackLow(s0, s1).AsUInt16(), hi01 = Avx2.UnpackHigh(s0, s1).AsUInt16();
            Vector256<ushort> lo23 = Avx2.UnpackLow(s2, s3).AsUInt16(), hi23 = Avx2.UnpackHigh(s2, s3).AsUInt16();
            Vector256<byte> w0 = Avx2.UnpackLow(lo01, lo23).AsByte(), w1 = Avx2.UnpackHigh(lo01, lo23).AsByte(); // weights 0–15, 16–31 of each block
            Vector256<byte> w2 = Avx2.UnpackLow(hi01, hi23).AsByte(), w3 = Avx2.UnpackHigh(hi01, hi23).AsByte(); // weights 32–47, 48–63
            int xb = 2 * i;
            sbyte* xq = x.Q + (32 * xb);
            int* sums = x.Sum + xb;
            float d0 = HalfToSingle(b[i].D), d1 = HalfToSingle(b[i + 1].D);
            Vector256<int> dot0 = DotCodes(Avx2.Permute2x128(w0, w1, 0x20), Avx.LoadVector256(xq), -sums[0]);
            Vector256<int> dot1 = DotCodes(Avx2.Permute2x128(w2, w3, 0x20), Avx.LoadVector256(xq + 32), -sums[1]);
            Vector256<int> dot2 = DotCodes(Avx2.Permute2x128(w0, w1, 0x31), Avx.LoadVector256(xq + 64), -sums[2]);
            Vector256<int> dot3 = DotCodes(Avx2.Permute2x128(w2, w3, 0x31), Avx.LoadVector256(xq + 96), -sums[3]);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot0), Vector256.Create(d0 * x.Scale[xb]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot1), Vector256.Create(d0 * x.Scale[xb + 1]), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot2), Vector256.Create(d1 * x.Scale[xb + 2]), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot3), Vector256.Create(d1 * x.Scale[xb + 3]), acc3);
        }

        float tail = 0;
        if (i < blocks)
        {
            var rest = new GgufActivations { Q = x.Q + (64 * i), Scale = x.Scale + (2 * i), Sum = x.Sum + (2 * i) };
            tail = Q2_0Scalar((byte*)(b + i), rest, 1);
        }

        return HorizontalSum((acc0 + acc1) + (acc2 + acc3)) + tail;
    }

    /// <summary>IQ4_NL: the nibbles become code-book values v by one byte shuffle; <c>Σ v·x = Σ |v|·(x·sign v)</c> then
    /// runs on <see cref="DotCodes"/> (unsigned × signed), whose 16-bit pair sums cannot saturate since |v|, |x| ≤ 127;
    /// two blocks per step on two accumulators.</summary>
    private static float IQ4_NLAvx2(byte* w, in GgufActivations x, int blocks)
    {
        var b = (BlockIQ4_NL*)w;
        Vector128<sbyte> table = Vector128.Create(BlockIQ4_NL.Values);
        Vector256<sbyte> lut = Vector256.Create(table, table);
        Vector128<byte> low4 = Vector128.Create((byte)0x0F);
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 1 < blocks; i += 2)
        {
            Vector128<byte> p0 = Vector128.Load(b[i].Qs), p1 = Vector128.Load(b[i + 1].Qs);
            Vector256<sbyte> v0 = Avx2.Shuffle(lut, Vector256.Create(p0 & low4, Vector128.ShiftRightLogical(p0, 4) & low4).AsSByte());
            Vector256<sbyte> v1 = Avx2.Shuffle(lut, Vector256.Create(p1 & low4, Vector128.ShiftRightLogical(p1, 4) & low4).AsSByte());
            Vector256<int> dot0 = DotCodes(Avx2.Abs(v0), Avx2.Sign(Avx.LoadVector256(x.Q + (32 * i)), v0), 0);
            Vector256<int> dot1 = DotCodes(Avx2.Abs(v1), Avx2.Sign(Avx.LoadVector256(x.Q + (32 * i) + 32), v1), 0);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot0), Vector256.Create(HalfToSingle(b[i].D) * x.Scale[i]), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot1), Vector256.Create(HalfToSingle(b[i + 1].D) * x.Scale[i + 1]), acc1);
        }

        float tail = 0;
        if (i < blocks)
        {
            var rest = new GgufActivations { Q = x.Q + (32 * i), Scale = x.Scale + i, Sum = x.Sum + i };
            tail = IQ4_NLScalar((byte*)(b + i), rest, 1);
        }

        return HorizontalSum(acc0 + acc1) + tail;
    }
}
