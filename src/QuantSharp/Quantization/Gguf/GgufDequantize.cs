using System.Numerics.Tensors;
using QuantSharp.Tensors;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Gguf;

/// <summary>
/// Block → float conversion for each supported <see cref="GgmlType"/>, following the block layouts documented on the
/// <c>Block*</c> structs. Products are formed in the same order as ggml's reference dequantizers
/// (e.g. <c>(d · sc) · q − dmin · m</c> for Q4_K), so results are bit-identical to llama.cpp's.
/// </summary>
[SkipLocalsInit]
public static unsafe partial class GgufDequantize
{
    /// <summary>Dequantizes <c>destination.Length</c> elements stored as <paramref name="type"/> in <paramref name="source"/>.</summary>
    /// <exception cref="ArgumentException">The length is not a whole number of blocks or <paramref name="source"/> is too short.</exception>
    /// <exception cref="NotSupportedException">The type has no dequantizer here.</exception>
    public static void Row(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blockSize = GgmlTypeInfo.BlockSize(type);
        if (blockSize == 0 || !GgmlTypeInfo.CanDequantize(type))
        {
            throw new NotSupportedException($"dequantizing {type} is not supported");
        }

        if (destination.Length % blockSize != 0)
        {
            throw new ArgumentException($"{destination.Length} elements is not a multiple of the {type} block size {blockSize}", nameof(destination));
        }

        long needed = GgmlTypeInfo.RowBytes(type, destination.Length);
        if (source.Length < needed)
        {
            throw new ArgumentException($"{type}: {destination.Length} elements need {needed} bytes, got {source.Length}", nameof(source));
        }

        fixed (byte* s = source)
        fixed (float* d = destination)
        {
            Row(type, s, d, destination.Length);
        }
    }

    /// <summary>Pointer form of <see cref="Row(GgmlType, ReadOnlySpan{byte}, Span{float})"/> without checks.</summary>
    internal static void Row(GgmlType type, byte* source, float* destination, int count)
    {
        switch (type)
        {
            case GgmlType.F32:
                new ReadOnlySpan<float>(source, count).CopyTo(new Span<float>(destination, count));
                break;
            case GgmlType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, count), new Span<float>(destination, count));
                break;
            case GgmlType.BF16:
                BFloat16.ToSingle(new ReadOnlySpan<ushort>(source, count), new Span<float>(destination, count));
                break;
            case GgmlType.Q8_0: Q8_0((BlockQ8_0*)source, destination, count / 32); break;
            case GgmlType.Q4_0: Q4_0((BlockQ4_0*)source, destination, count / 32); break;
            case GgmlType.Q4_1: Q4_1((BlockQ4_1*)source, destination, count / 32); break;
            case GgmlType.Q5_0: Q5_0((BlockQ5_0*)source, destination, count / 32); break;
            case GgmlType.Q5_1: Q5_1((BlockQ5_1*)source, destination, count / 32); break;
            case GgmlType.Q4_K: Q4_K((BlockQ4_K*)source, destination, count / 256); break;
            case GgmlType.Q5_K: Q5_K((BlockQ5_K*)source, destination, count / 256); break;
            case GgmlType.Q6_K: Q6_K((BlockQ6_K*)source, destination, count / 256); break;
            case GgmlType.TQ1_0: TQ1_0((BlockTQ1_0*)source, destination, count / 256); break;
            case GgmlType.TQ2_0: TQ2_0((BlockTQ2_0*)source, destination, count / 256); break;
            case GgmlType.Q2_0: Q2_0((BlockQ2_0*)source, destination, count / 64); break;
            case GgmlType.IQ4_NL: IQ4_NL((BlockIQ4_NL*)source, destination, count / 32); break;
            case GgmlType.Q2_K: Q2_K((BlockQ2_K*)source, destination, count / 256); break;
            case GgmlType.Q3_K: Q3_K((BlockQ3_K*)source, destination, count / 256); break;
            case GgmlType.IQ4_XS: IQ4_XS((BlockIQ4_XS*)source, destination, count / 256); break;
            case GgmlType.IQ2_XXS: IQ2_XXS((BlockIQ2_XXS*)source, destination, count / 256); break;
            case GgmlType.IQ2_XS: IQ2_XS((BlockIQ2_XS*)source, destination, count / 256); break;
            case GgmlType.IQ2_S: IQ2_S((BlockIQ2_S*)source, destination, count / 256); break;
            case GgmlType.IQ3_XXS: IQ3_XXS((BlockIQ3_XXS*)source, destination, count / 256); break;
            case GgmlType.IQ3_S: IQ3_S((BlockIQ3_S*)source, destination, count / 256); break;
            case GgmlType.IQ1_S: IQ1_S((BlockIQ1_S*)source, destination, count / 256); break;
            case GgmlType.IQ1_M: IQ1_M((BlockIQ1_M*)source, destination, count / 256); break;
            default:
                throw new NotSupportedException($"dequantizing {type} is not supported");
        }
    }

    internal static void Q8_0(BlockQ8_0* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += 32)
        {
            float d = (float)x[i].D;
            for (int j = 0; j < 32; j++)
            {
                y[j] = x[i].Qs[j] * d;
            }
        }
    }

    internal static void Q4_0(BlockQ4_0* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += 32)
        {
            float d = (float)x[i].D;
            for (int j = 0; j < 16; j++)
            {
                y[j] = ((x[i].Qs[j] & 0x0F) - 8) * d;
                y[j + 16] = ((x[i].Qs[j] >> 4) - 8) * d;
            }
        }
    }

    internal static void Q4_1(BlockQ4_1* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += 32)
        {
            float d = (float)x[i].D;
            float m = (float)x[i].M;
            for (int j = 0; j < 16; j++)
            {
                y[j] = (x[i].Qs[j] & 0x0F) * d + m;
                y[j + 16] = (x[i].Qs[j] >> 4) * d + m;
            }
        }
    }

    internal static void Q5_0(BlockQ5_0* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += 32)
        {
            float d = (float)x[i].D;
            uint qh = Unsafe.ReadUnaligned<uint>(x[i].Qh);
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((x[i].Qs[j] & 0x0F) | h0) - 16) * d;
                y[j + 16] = (((x[i].Qs[j] >> 4) | h1) - 16) * d;
            }
        }
    }

    internal static void Q5_1(BlockQ5_1* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += 32)
        {
            float d = (float)x[i].D;
            float m = (float)x[i].M;
            uint qh = Unsafe.ReadUnaligned<uint>(x[i].Qh);
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = ((x[i].Qs[j] & 0x0F) | h0) * d + m;
                y[j + 16] = ((x[i].Qs[j] >> 4) | h1) * d + m;
            }
        }
    }

    /// <summary>The 6-bit scale and min of sub-block <paramref name="j"/> (0..7) of a Q4_K/Q5_K block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ScaleMinK4(int j, byte* q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    /// <summary>Sub-block <paramref name="j"/>'s scale and min of a Q4_K/Q5_K block with super-block factors
    /// <paramref name="d"/> and <paramref name="min"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float Scale, float Min) SubBlockK4(int j, byte* q, float d, float min)
    {
        ScaleMinK4(j, q, out int sc, out int m);
        return (d * sc, min * m);
    }

    internal static void Q4_K(BlockQ4_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += 256)
        {
            SuperBlockK(x[i].Scales, (float)x[i].D, (float)x[i].DMin, x[i].Qs, null, y);
        }
    }

    internal static void Q5_K(BlockQ5_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += 256)
        {
            SuperBlockK(x[i].Scales, (float)x[i].D, (float)x[i].DMin, x[i].Qs, x[i].Qh, y);
        }
    }

    /// <summary>One Q4_K (<paramref name="qh"/> null) or Q5_K super-block: per 64 weights, low nibbles then high nibbles
    /// of 32 bytes of <paramref name="ql"/>, plus 16 where the pair's bits of <paramref name="qh"/> are set.</summary>
    private static void SuperBlockK(byte* scales, float d, float min, byte* ql, byte* qh, float* y)
    {
        int u1 = 1, u2 = 2;
        for (int c = 0; c < 4; c++, ql += 32, u1 <<= 2, u2 <<= 2)
        {
            (float d1, float m1) = SubBlockK4(2 * c, scales, d, min);
            (float d2, float m2) = SubBlockK4((2 * c) + 1, scales, d, min);
            for (int l = 0; l < 32; l++)
            {
                *y++ = d1 * ((ql[l] & 0xF) + (qh != null && (qh[l] & u1) != 0 ? 16 : 0)) - m1;
            }

            for (int l = 0; l < 32; l++)
            {
                *y++ = d2 * ((ql[l] >> 4) + (qh != null && (qh[l] & u2) != 0 ? 16 : 0)) - m2;
            }
        }
    }

    internal static void Q6_K(BlockQ6_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            byte* ql = x[i].Ql;
            byte* qh = x[i].Qh;
            sbyte* sc = x[i].Scales;
            for (int h = 0; h < 2; h++, y += 128, ql += 64, qh += 32, sc += 8)
            {
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * sc[s] * q1;
                    y[l + 32] = d * sc[s + 2] * q2;
                    y[l + 64] = d * sc[s + 4] * q3;
                    y[l + 96] = d * sc[s + 6] * q4;
                }
            }
        }
    }

    /// <summary>Trit <paramref name="n"/> (0 = most significant) of a TQ1_0 byte, in 0..2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Trit(byte b, int n)
    {
        byte q = (byte)(b * Pow3(n));
        return (q * 3) >> 8;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Pow3(int n) => n switch { 0 => 1, 1 => 3, 2 => 9, 3 => 27, _ => 81 };

    internal static void TQ1_0(BlockTQ1_0* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int n = 0; n < 5; n++)
            {
                for (int m = 0; m < 32; m++)
                {
                    *y++ = (Trit(x[i].Qs[m], n) - 1) * d;
                }
            }

            for (int n = 0; n < 5; n++)
            {
                for (int m = 0; m < 16; m++)
                {
                    *y++ = (Trit(x[i].Qs[32 + m], n) - 1) * d;
                }
            }

            for (int n = 0; n < 4; n++)
            {
                for (int j = 0; j < 4; j++)
                {
                    *y++ = (Trit(x[i].Qh[j], n) - 1) * d;
                }
            }
        }
    }

    internal static void TQ2_0(BlockTQ2_0* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int c = 0; c < 64; c += 32)
            {
                for (int n = 0; n < 4; n++)
                {
                    for (int m = 0; m < 32; m++)
                    {
                        *y++ = (((x[i].Qs[c + m] >> (2 * n)) & 3) - 1) * d;
                    }
                }
            }
        }
    }

    internal static void Q2_0(BlockQ2_0* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, y += 64)
        {
            float d = (float)x[i].D;
            for (int j = 0; j < 64; j++)
            {
                y[j] = (((x[i].Qs[j / 4] >> (2 * (j % 4))) & 3) - 1) * d;
            }
        }
    }

    internal static void IQ4_NL(BlockIQ4_NL* x, float* y, int blocks)
    {
        ReadOnlySpan<sbyte> values = BlockIQ4_NL.Values;
        for (int i = 0; i < blocks; i++, y += 32)
        {
            float d = (float)x[i].D;
            for (int j = 0; j < 16; j++)
            {
                y[j] = d * values[x[i].Qs[j] & 0xF];
                y[j + 16] = d * values[x[i].Qs[j] >> 4];
            }
        }
    }

    internal static void Q2_K(BlockQ2_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D, min = (float)x[i].Dmin;
            for (int h = 0; h < 2; h++)
            {
                for (int n = 0; n < 4; n++)
                {
                    for (int half16 = 0; half16 < 2; half16++)
                    {
                        byte sc = x[i].Scales[(8 * h) + (2 * n) + half16];
                        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                        for (int m = 16 * half16; m < (16 * half16) + 16; m++)
                        {
                            *y++ = (dl * ((x[i].Qs[(32 * h) + m] >> (2 * n)) & 3)) - ml;
                        }
                    }
                }
            }
        }
    }

    internal static void Q3_K(BlockQ3_K* x, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int h = 0; h < 2; h++)
            {
                for (int n = 0; n < 4; n++)
                {
                    for (int half16 = 0; half16 < 2; half16++)
                    {
                        float dl = d * (Q3_KScale(x[i].Scales, (8 * h) + (2 * n) + half16) - 32);
                        for (int m = 16 * half16; m < (16 * half16) + 16; m++)
                        {
                            int low = (x[i].Qs[(32 * h) + m] >> (2 * n)) & 3;
                            int high = (x[i].HMask[m] >> ((4 * h) + n)) & 1;
                            *y++ = dl * (low - (high != 0 ? 0 : 4));
                        }
                    }
                }
            }
        }
    }

    /// <summary>Six-bit scale <paramref name="s"/> (0–15) of a Q3_K block, before subtracting 32.</summary>
    internal static int Q3_KScale(byte* scales, int s)
    {
        int g = s / 4, k = s % 4;
        int low = g switch
        {
            0 => scales[k] & 0xF,
            1 => scales[4 + k] & 0xF,
            2 => scales[k] >> 4,
            _ => scales[4 + k] >> 4,
        };
        return low | (((scales[8 + k] >> (2 * g)) & 3) << 4);
    }

    internal static void IQ4_XS(BlockIQ4_XS* x, float* y, int blocks)
    {
        ReadOnlySpan<sbyte> values = BlockIQ4_NL.Values;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int b = 0; b < 8; b++, y += 32)
            {
                int ls = ((x[i].ScalesL[b / 2] >> (4 * (b % 2))) & 0xF) | (((x[i].ScalesH >> (2 * b)) & 3) << 4);
                float dl = d * (ls - 32);
                for (int j = 0; j < 16; j++)
                {
                    y[j] = dl * values[x[i].Qs[(16 * b) + j] & 0xF];
                    y[j + 16] = dl * values[x[i].Qs[(16 * b) + j] >> 4];
                }
            }
        }
    }
}
