using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(GgmlType type, byte* w, in GgufActivations x, int blocks32) => Avx2.IsSupported && Fma.IsSupported
        ? DotAvx2(type, w, x, blocks32)
        : DotScalar(type, w, x, blocks32);

    /// <summary>True for the types with a direct integer kernel.</summary>
    public static bool HasDirectKernel(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_K or GgmlType.Q6_K or GgmlType.TQ2_0;

    public static float DotAvx2(GgmlType type, byte* w, in GgufActivations x, int blocks32) => type switch
    {
        GgmlType.Q8_0 => Q8_0Avx2(w, x, blocks32),
        GgmlType.Q4_0 => Q4_0Avx2(w, x, blocks32),
        GgmlType.Q4_K => Q4_KAvx2(w, x, blocks32 / 8),
        GgmlType.Q6_K => Q6_KAvx2(w, x, blocks32 / 8),
        GgmlType.TQ2_0 => TQ2_0Avx2(w, x, blocks32 / 8),
        _ => throw new NotSupportedException(type.ToString()),
    };

    public static float DotScalar(GgmlType type, byte* w, in GgufActivations x, int blocks32) => type switch
    {
        GgmlType.Q8_0 => Q8_0Scalar(w, x, blocks32),
        GgmlType.Q4_0 => Q4_0Scalar(w, x, blocks32),
        GgmlType.Q4_K => Q4_KScalar(w, x, blocks32 / 8),
        GgmlType.Q6_K => Q6_KScalar(w, x, blocks32 / 8),
        GgmlType.TQ2_0 => TQ2_0Scalar(w, x, blocks32 / 8),
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
        float finite = BitConverter.UInt32BitsToSingle(magnitude << 13) * 5.192296858534828e33f; // 2^112: exact for normals and subnormals
        uint special = 0x7F800000u | ((magnitude & 0x3FFu) << 13); // infinity, or NaN with its payload
        uint f32 = magnitude >= 0x7C00u ? special : BitConverter.SingleToUInt32Bits(finite);
        return BitConverter.UInt32BitsToSingle(f32 | ((bits & 0x8000u) << 16));
    }

    /// <summary>Eight int32 partial sums of w·x over 32 signed bytes (sign trick: |w| · sign(x, w) fits maddubs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotI8x32(Vector256<sbyte> w, Vector256<sbyte> x)
    {
        Vector256<short> p = Avx2.MultiplyAddAdjacent(Avx2.Sign(w, w).AsByte(), Avx2.Sign(x, w));
        return Avx2.MultiplyAddAdjacent(p, Vector256.Create((short)1));
    }

    /// <summary>Eight int32 partial sums of u·x for unsigned u ≤ 127.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotU8x32(Vector256<byte> u, Vector256<sbyte> x)
        => Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, x), Vector256.Create((short)1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalSum(Vector256<float> v)
    {
        Vector128<float> s = Sse.Add(v.GetLower(), v.GetUpper());
        s = Sse.Add(s, Sse.MoveHighToLow(s, s));
        s = Sse.AddScalar(s, Sse.Shuffle(s, s, 0b01));
        return s.ToScalar();
    }

    /// <summary>Low and high nibbles of 16 bytes as 32 bytes: [b &amp; 15 for the 16 bytes, b &gt;&gt; 4 for the 16 bytes].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles16(byte* p)
    {
        Vector128<byte> v = Sse2.LoadVector128(p);
        Vector128<byte> mask = Vector128.Create((byte)0x0F);
        return Vector256.Create(Sse2.And(v, mask), Sse2.And(Sse2.ShiftRightLogical(v.AsUInt16(), 4).AsByte(), mask));
    }

    private static float Q8_0Avx2(byte* w, in GgufActivations x, int blocks)
    {
        var b = (BlockQ8_0*)w;
        Vector256<float> acc = Vector256<float>.Zero;
        for (int i = 0; i < blocks; i++)
        {
            Vector256<int> dot = DotI8x32(Avx.LoadVector256(b[i].Qs), Avx.LoadVector256(x.Q + 32 * i));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(HalfToSingle(b[i].D) * x.Scale[i]), acc);
        }

        return HorizontalSum(acc);
    }

    private static float Q4_0Avx2(byte* w, in GgufActivations x, int blocks)
    {
        var b = (BlockQ4_0*)w;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<sbyte> eight = Vector256.Create((sbyte)8);
        for (int i = 0; i < blocks; i++)
        {
            Vector256<sbyte> q = Avx2.Subtract(Nibbles16(b[i].Qs).AsSByte(), eight);
            Vector256<int> dot = DotI8x32(q, Avx.LoadVector256(x.Q + 32 * i));
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(HalfToSingle(b[i].D) * x.Scale[i]), acc);
        }

        return HorizontalSum(acc);
    }

    private static float Q4_KAvx2(byte* w, in GgufActivations x, int superBlocks)
    {
        var b = (BlockQ4_K*)w;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> mask = Vector256.Create((byte)0x0F);
        float minAcc = 0;
        for (int i = 0; i < superBlocks; i++)
        {
            float d = HalfToSingle(b[i].D), dmin = HalfToSingle(b[i].DMin);
            byte* scales = b[i].Scales;
            for (int c = 0; c < 4; c++)
            {
                Vector256<byte> q = Avx.LoadVector256(b[i].Qs + 32 * c);
                Vector256<byte> lo = Avx2.And(q, mask);
                Vector256<byte> hi = Avx2.And(Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte(), mask);
                int xb = 8 * i + 2 * c;
                GgufDequantize.ScaleMinK4(2 * c, scales, out int sc0, out int m0);
                GgufDequantize.ScaleMinK4(2 * c + 1, scales, out int sc1, out int m1);
                Vector256<int> dot0 = DotU8x32(lo, Avx.LoadVector256(x.Q + 32 * xb));
                Vector256<int> dot1 = DotU8x32(hi, Avx.LoadVector256(x.Q + 32 * xb + 32));
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot0), Vector256.Create(d * sc0 * x.Scale[xb]), acc);
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot1), Vector256.Create(d * sc1 * x.Scale[xb + 1]), acc);
                minAcc += dmin * m0 * x.Scale[xb] * x.Sum[xb] + dmin * m1 * x.Scale[xb + 1] * x.Sum[xb + 1];
            }
        }

        return HorizontalSum(acc) - minAcc;
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

    private static float TQ2_0Avx2(byte* w, in GgufActivations x, int superBlocks)
    {
        var b = (BlockTQ2_0*)w;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> mask2 = Vector256.Create((byte)0x03);
        Vector256<sbyte> one = Vector256.Create((sbyte)1);
        for (int i = 0; i < superBlocks; i++)
        {
            float d = HalfToSingle(b[i].D);
            for (int c = 0; c < 2; c++)
            {
                Vector256<byte> packed = Avx.LoadVector256(b[i].Qs + 32 * c);
                for (int n = 0; n < 4; n++)
                {
                    Vector256<byte> q2 = Avx2.And(Avx2.ShiftRightLogical(packed.AsUInt16(), Vector128.CreateScalar((ushort)(2 * n))).AsByte(), mask2);
                    Vector256<sbyte> t = Avx2.Subtract(q2.AsSByte(), one);
                    int xb = 8 * i + 4 * c + n;
                    // sign(x, t) = x · t for t ∈ {−1, 0, 1}; sum the products in 16 then 32 bits.
                    Vector256<sbyte> prod = Avx2.Sign(Avx.LoadVector256(x.Q + 32 * xb), t);
                    Vector256<int> dot = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Vector256.Create((byte)1), prod), Vector256.Create((short)1));
                    acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(d * x.Scale[xb]), acc);
                }
            }
        }

        return HorizontalSum(acc);
    }
}
