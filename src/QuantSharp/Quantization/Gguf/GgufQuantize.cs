using System.Runtime.InteropServices;
using QuantSharp.Tensors;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Gguf;

/// <summary>
/// Float → block quantization reproducing llama.cpp's reference quantizers (<c>quantize_row_*_ref</c> in
/// ggml-quants.c, which <c>llama-quantize</c> uses when no importance matrix is given), so a tensor we write holds the
/// same bytes llama.cpp would write for the same floats. The float operations are done in the same order and
/// precision; the one known source of rare differences is a C compiler contracting <c>a · b + c</c> into a fused
/// multiply-add, which can move a value that sits exactly on a rounding boundary by one step.
/// </summary>
[SkipLocalsInit]
public static unsafe class GgufQuantize
{
    private const float GroupMaxEps = 1e-15f;

    /// <summary>Quantizes <c>source.Length</c> floats into <paramref name="destination"/> as <paramref name="type"/>.</summary>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="ArgumentException">The length is not a whole number of blocks or the destination is too short.</exception>
    /// <exception cref="NotSupportedException">The type has no quantizer here.</exception>
    public static int Row(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (!GgmlTypeInfo.CanQuantize(type))
        {
            throw new NotSupportedException($"quantizing to {type} is not supported");
        }

        int blockSize = GgmlTypeInfo.BlockSize(type);
        if (source.Length % blockSize != 0)
        {
            throw new ArgumentException($"{source.Length} elements is not a multiple of the {type} block size {blockSize}", nameof(source));
        }

        int bytes = checked((int)GgmlTypeInfo.RowBytes(type, source.Length));
        if (destination.Length < bytes)
        {
            throw new ArgumentException($"{type}: {source.Length} elements need {bytes} bytes, got {destination.Length}", nameof(destination));
        }

        int blocks = source.Length / blockSize;
        fixed (float* x = source)
        fixed (byte* y = destination)
        {
            switch (type)
            {
                case GgmlType.F32:
                    source.CopyTo(MemoryMarshal.Cast<byte, float>(destination));
                    break;
                case GgmlType.F16:
                    for (int i = 0; i < source.Length; i++)
                    {
                        ((Half*)y)[i] = (Half)x[i];
                    }

                    break;
                case GgmlType.BF16:
                    for (int i = 0; i < source.Length; i++)
                    {
                        ((ushort*)y)[i] = BFloat16.FromSingle(x[i]);
                    }

                    break;
                case GgmlType.Q8_0: Q8_0(x, (BlockQ8_0*)y, blocks); break;
                case GgmlType.Q4_0: Q4_0(x, (BlockQ4_0*)y, blocks); break;
                case GgmlType.Q4_1: Q4_1(x, (BlockQ4_1*)y, blocks); break;
                case GgmlType.Q5_0: Q5_0(x, (BlockQ5_0*)y, blocks); break;
                case GgmlType.Q5_1: Q5_1(x, (BlockQ5_1*)y, blocks); break;
                case GgmlType.Q4_K: Q4_K(x, (BlockQ4_K*)y, blocks); break;
                case GgmlType.Q5_K: Q5_K(x, (BlockQ5_K*)y, blocks); break;
                case GgmlType.Q6_K: Q6_K(x, (BlockQ6_K*)y, blocks); break;
                case GgmlType.TQ1_0: TQ1_0(x, (BlockTQ1_0*)y, blocks); break;
                case GgmlType.TQ2_0: TQ2_0(x, (BlockTQ2_0*)y, blocks); break;
                case GgmlType.Q2_0: Q2_0(x, (BlockQ2_0*)y, blocks); break;
                case GgmlType.IQ4_NL: IQ4_NL(x, (BlockIQ4_NL*)y, blocks); break;
            }
        }

        return bytes;
    }

    /// <summary>Quantizes a whole <paramref name="rows"/> × <paramref name="rowLength"/> matrix into a new array.</summary>
    public static byte[] Matrix(GgmlType type, ReadOnlySpan<float> source, int rows, int rowLength)
    {
        if ((long)rows * rowLength != source.Length)
        {
            throw new ArgumentException($"{rows}×{rowLength} does not match {source.Length} values", nameof(source));
        }

        if (rowLength % GgmlTypeInfo.BlockSize(type) != 0)
        {
            throw new ArgumentException($"row length {rowLength} is not a multiple of the {type} block size {GgmlTypeInfo.BlockSize(type)}", nameof(rowLength));
        }

        int rowBytes = checked((int)GgmlTypeInfo.RowBytes(type, rowLength));
        byte[] result = new byte[checked(rowBytes * rows)];
        for (int r = 0; r < rows; r++)
        {
            Row(type, source.Slice(r * rowLength, rowLength), result.AsSpan(r * rowBytes, rowBytes));
        }

        return result;
    }

    /// <summary>ggml's <c>nearest_int</c>: round half to even via the 1.5·2²³ trick, exact for |x| &lt; 2²².</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int NearestInt(float value)
    {
        float v = value + 12582912f;
        return (BitConverter.SingleToInt32Bits(v) & 0x007FFFFF) - 0x00400000;
    }

    /// <summary>C's <c>roundf</c>/<c>lroundf</c>: half away from zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float RoundAway(float value) => MathF.Round(value, MidpointRounding.AwayFromZero);

    /// <summary>C's float → int8 conversion (truncation) followed by ggml's <c>MIN(limit, ·)</c> on the uint8 result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte TruncMin(float value, int limit) => (byte)Math.Min(limit, (int)(sbyte)(int)value);

    internal static void Q8_0(float* x, BlockQ8_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += 32)
        {
            float amax = 0;
            for (int j = 0; j < 32; j++)
            {
                amax = Math.Max(amax, MathF.Abs(x[j]));
            }

            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = (Half)d;
            for (int j = 0; j < 32; j++)
            {
                y[i].Qs[j] = (sbyte)(int)RoundAway(x[j] * id);
            }
        }
    }

    internal static void Q4_0(float* x, BlockQ4_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += 32)
        {
            float max = SignedAbsMax(x, 32);

            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = (Half)d;
            for (int j = 0; j < 16; j++)
            {
                float x0 = x[j] * id;
                float x1 = x[j + 16] * id;
                y[i].Qs[j] = (byte)(TruncMin(x0 + 8.5f, 15) | (TruncMin(x1 + 8.5f, 15) << 4));
            }
        }
    }

    /// <summary>The value of largest magnitude, sign kept (first one on ties), as the reference Q4_0/Q5_0 quantizers pick it.</summary>
    private static float SignedAbsMax(float* x, int count)
    {
        float amax = 0, max = 0;
        for (int j = 0; j < count; j++)
        {
            if (amax < MathF.Abs(x[j]))
            {
                amax = MathF.Abs(x[j]);
                max = x[j];
            }
        }

        return max;
    }

    /// <summary>Smallest and largest of <paramref name="count"/> floats (the min/max scan of the reference quantizers).</summary>
    private static (float Min, float Max) MinMax(float* x, int count)
    {
        float min = float.MaxValue, max = -float.MaxValue;
        for (int j = 0; j < count; j++)
        {
            min = x[j] < min ? x[j] : min;
            max = x[j] > max ? x[j] : max;
        }

        return (min, max);
    }

    internal static void Q4_1(float* x, BlockQ4_1* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += 32)
        {
            (float min, float max) = MinMax(x, 32);

            float d = (max - min) / 15;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = (Half)d;
            y[i].M = (Half)min;
            for (int j = 0; j < 16; j++)
            {
                float x0 = (x[j] - min) * id;
                float x1 = (x[j + 16] - min) * id;
                y[i].Qs[j] = (byte)(TruncMin(x0 + 0.5f, 15) | (TruncMin(x1 + 0.5f, 15) << 4));
            }
        }
    }

    internal static void Q5_0(float* x, BlockQ5_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += 32)
        {
            float max = SignedAbsMax(x, 32);

            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = (Half)d;
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                byte xi0 = TruncMin(x[j] * id + 16.5f, 31);
                byte xi1 = TruncMin(x[j + 16] * id + 16.5f, 31);
                y[i].Qs[j] = (byte)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
                qh |= ((xi0 & 0x10u) >> 4) << j;
                qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
            }

            Unsafe.WriteUnaligned(y[i].Qh, qh);
        }
    }

    internal static void Q5_1(float* x, BlockQ5_1* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += 32)
        {
            (float min, float max) = MinMax(x, 32);

            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = (Half)d;
            y[i].M = (Half)min;
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                byte xi0 = (byte)(int)((x[j] - min) * id + 0.5f);
                byte xi1 = (byte)(int)((x[j + 16] - min) * id + 0.5f);
                y[i].Qs[j] = (byte)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
                qh |= ((xi0 & 0x10u) >> 4) << j;
                qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
            }

            Unsafe.WriteUnaligned(y[i].Qh, qh);
        }
    }

    /// <summary>ggml's <c>make_qkx2_quants</c>: a scale and min for <paramref name="n"/> values at levels 0..nmax,
    /// refined by a weighted least-squares search over <paramref name="nstep"/> + 1 candidate scales.</summary>
    private static float MakeQkx2Quants(int n, int nmax, float* x, float* weights, byte* l, out float theMin, byte* laux,
        float rmin, float rdelta, int nstep)
    {
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min)
            {
                min = x[i];
            }

            if (x[i] > max)
            {
                max = x[i];
            }

            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }

        if (min > 0)
        {
            min = 0;
        }

        if (max == min)
        {
            for (int i = 0; i < n; i++)
            {
                l[i] = 0;
            }

            theMin = -min;
            return 0;
        }

        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int q = NearestInt(iscale * (x[i] - min));
            l[i] = (byte)Math.Max(0, Math.Min(nmax, q));
            float diff = scale * l[i] + min - x[i];
            bestError += weights[i] * (diff * diff);
        }

        for (int s = 0; s <= nstep; s++)
        {
            iscale = (rmin + rdelta * s + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int q = NearestInt(iscale * (x[i] - min));
                q = Math.Max(0, Math.Min(nmax, q));
                laux[i] = (byte)q;
                float w = weights[i];
                sumL += w * q;
                sumL2 += w * q * q;
                sumXL += w * q * x[i];
            }

            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }

                float error = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * laux[i] + thisMin - x[i];
                    error += weights[i] * (diff * diff);
                }

                if (error < bestError)
                {
                    for (int i = 0; i < n; i++)
                    {
                        l[i] = laux[i];
                    }

                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }

        theMin = -min;
        return scale;
    }

    /// <summary>ggml's <c>make_qx_quants</c> with <c>rmse_type = 1</c> and no importance weights (weights x²), as
    /// used by the Q6_K reference quantizer: levels −nmax..nmax−1 stored as 0..2·nmax−1.</summary>
    private static float MakeQxQuants(int n, int nmax, float* x, sbyte* l)
    {
        float max = SignedAbsMax(x, n);
        if (MathF.Abs(max) < GroupMaxEps)
        {
            for (int i = 0; i < n; i++)
            {
                l[i] = 0;
            }

            return 0;
        }

        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int q = NearestInt(iscale * x[i]);
            q = Math.Max(-nmax, Math.Min(nmax - 1, q));
            l[i] = (sbyte)(q + nmax);
            float w = x[i] * x[i];
            sumlx += w * x[i] * q;
            suml2 += w * q * q;
        }

        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int s = -9; s <= 9; s++)
        {
            if (s == 0)
            {
                continue;
            }

            iscale = -(nmax + 0.1f * s) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int q = NearestInt(iscale * x[i]);
                q = Math.Max(-nmax, Math.Min(nmax - 1, q));
                float w = x[i] * x[i];
                sumlx += w * x[i] * q;
                suml2 += w * q * q;
            }

            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++)
                {
                    int q = NearestInt(iscale * x[i]);
                    l[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, q)));
                }

                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }

        return scale;
    }

    /// <summary>Packs 6-bit sub-block scales and mins into the 12-byte Q4_K/Q5_K <c>scales</c> field.</summary>
    private static void PackScalesK4(float* scales, float* mins, float maxScale, float maxMin, byte* packed)
    {
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (int j = 0; j < 12; j++)
        {
            packed[j] = 0;
        }

        for (int j = 0; j < 8; j++)
        {
            byte ls = Math.Min((byte)63, (byte)NearestInt(invScale * scales[j]));
            byte lm = Math.Min((byte)63, (byte)NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
    }

    /// <summary>Per-sub-block scales and mins of one K super-block (8 × 32 values) at levels 0..nmax.</summary>
    private static void SubBlockScalesK(float* x, int nmax, float rmin, float rdelta, int nstep, byte* l, float* scales, float* mins,
        out float maxScale, out float maxMin)
    {
        float* weights = stackalloc float[32];
        byte* laux = stackalloc byte[32];
        maxScale = 0;
        maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            float sumX2 = 0;
            for (int k = 0; k < 32; k++)
            {
                sumX2 += x[32 * j + k] * x[32 * j + k];
            }

            float avX = MathF.Sqrt(sumX2 / 32);
            for (int k = 0; k < 32; k++)
            {
                weights[k] = avX + MathF.Abs(x[32 * j + k]);
            }

            scales[j] = MakeQkx2Quants(32, nmax, x + 32 * j, weights, l + 32 * j, out mins[j], laux, rmin, rdelta, nstep);
            if (scales[j] > maxScale)
            {
                maxScale = scales[j];
            }

            if (mins[j] > maxMin)
            {
                maxMin = mins[j];
            }
        }
    }

    /// <summary>Final levels of a K super-block given its packed scales.</summary>
    private static void LevelsK(float* x, byte* packedScales, Half d, Half dmin, int nmax, byte* l)
    {
        for (int j = 0; j < 8; j++)
        {
            GgufDequantize.ScaleMinK4(j, packedScales, out int sc, out int m);
            float dd = (float)d * sc;
            if (dd == 0)
            {
                continue;
            }

            float dm = (float)dmin * m;
            for (int k = 0; k < 32; k++)
            {
                int q = NearestInt((x[32 * j + k] + dm) / dd);
                l[32 * j + k] = (byte)Math.Max(0, Math.Min(nmax, q));
            }
        }
    }

    /// <summary>Scales, mins and levels 0..<paramref name="nmax"/> of one Q4_K/Q5_K super-block (8 × 32 values): the
    /// sub-block fits, their 6-bit packing into <paramref name="packedScales"/>, the super-block factors, and the final
    /// levels under the packed scales, as llama.cpp's reference quantizers compute them.</summary>
    private static void SuperBlockK(float* x, int nmax, float rmin, int nstep, byte* l, byte* packedScales, out Half d, out Half dmin)
    {
        float* scales = stackalloc float[8];
        float* mins = stackalloc float[8];
        SubBlockScalesK(x, nmax, rmin, 0.1f, nstep, l, scales, mins, out float maxScale, out float maxMin);
        PackScalesK4(scales, mins, maxScale, maxMin, packedScales);
        d = (Half)(maxScale / 63f);
        dmin = (Half)(maxMin / 63f);
        LevelsK(x, packedScales, d, dmin, nmax, l);
    }

    internal static void Q4_K(float* x, BlockQ4_K* y, int blocks)
    {
        byte* l = stackalloc byte[256];
        for (int i = 0; i < blocks; i++, x += 256)
        {
            SuperBlockK(x, 15, -1f, 20, l, y[i].Scales, out y[i].D, out y[i].DMin);
            byte* q = y[i].Qs;
            for (int j = 0; j < 256; j += 64, q += 32)
            {
                for (int k = 0; k < 32; k++)
                {
                    q[k] = (byte)(l[j + k] | (l[j + k + 32] << 4));
                }
            }
        }
    }

    internal static void Q5_K(float* x, BlockQ5_K* y, int blocks)
    {
        byte* l = stackalloc byte[256];
        for (int i = 0; i < blocks; i++, x += 256)
        {
            SuperBlockK(x, 31, -0.5f, 15, l, y[i].Scales, out y[i].D, out y[i].DMin);
            byte* qh = y[i].Qh;
            byte* ql = y[i].Qs;
            new Span<byte>(qh, 32).Clear();
            int m1 = 1, m2 = 2;
            for (int n = 0; n < 256; n += 64, m1 <<= 2, m2 <<= 2, ql += 32)
            {
                for (int j = 0; j < 32; j++)
                {
                    int l1 = l[n + j];
                    if (l1 > 15)
                    {
                        l1 -= 16;
                        qh[j] |= (byte)m1;
                    }

                    int l2 = l[n + j + 32];
                    if (l2 > 15)
                    {
                        l2 -= 16;
                        qh[j] |= (byte)m2;
                    }

                    ql[j] = (byte)(l1 | (l2 << 4));
                }
            }
        }
    }

    internal static void Q6_K(float* x, BlockQ6_K* y, int blocks)
    {
        sbyte* l = stackalloc sbyte[256];
        float* scales = stackalloc float[16];
        for (int i = 0; i < blocks; i++, x += 256)
        {
            float maxScale = 0, maxAbsScale = 0;
            for (int b = 0; b < 16; b++)
            {
                float scale = MakeQxQuants(16, 32, x + 16 * b, l + 16 * b);
                scales[b] = scale;
                if (MathF.Abs(scale) > maxAbsScale)
                {
                    maxAbsScale = MathF.Abs(scale);
                    maxScale = scale;
                }
            }

            if (maxAbsScale < GroupMaxEps)
            {
                new Span<byte>(&y[i], sizeof(BlockQ6_K)).Clear();
                continue;
            }

            float iscale = -128f / maxScale;
            y[i].D = (Half)(1 / iscale);
            for (int b = 0; b < 16; b++)
            {
                y[i].Scales[b] = (sbyte)Math.Min(127, NearestInt(iscale * scales[b]));
            }

            for (int j = 0; j < 16; j++)
            {
                float d = (float)y[i].D * y[i].Scales[j];
                if (d == 0)
                {
                    continue;
                }

                for (int k = 0; k < 16; k++)
                {
                    int q = NearestInt(x[16 * j + k] / d);
                    l[16 * j + k] = (sbyte)(Math.Max(-32, Math.Min(31, q)) + 32);
                }
            }

            byte* ql = y[i].Ql;
            byte* qh = y[i].Qh;
            for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
            {
                for (int k = 0; k < 32; k++)
                {
                    int q1 = l[j + k] & 0xF;
                    int q2 = l[j + k + 32] & 0xF;
                    int q3 = l[j + k + 64] & 0xF;
                    int q4 = l[j + k + 96] & 0xF;
                    ql[k] = (byte)(q1 | (q3 << 4));
                    ql[k + 32] = (byte)(q2 | (q4 << 4));
                    qh[k] = (byte)((l[j + k] >> 4) | ((l[j + k + 32] >> 4) << 2) | ((l[j + k + 64] >> 4) << 4) | ((l[j + k + 96] >> 4) << 6));
                }
            }
        }
    }

    /// <summary>max |x[j]| over the 256 values of a ternary super-block (its scale in TQ1_0/TQ2_0).</summary>
    private static float AbsMax256(float* x)
    {
        float amax = 0;
        for (int j = 0; j < 256; j++)
        {
            amax = Math.Max(amax, MathF.Abs(x[j]));
        }

        return amax;
    }

    internal static void TQ1_0(float* x, BlockTQ1_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = AbsMax256(x);
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = (Half)d;
            for (int m = 0; m < 32; m++)
            {
                y[i].Qs[m] = PackTrits(x + m, 32, 5, id);
            }

            x += 160;
            for (int m = 0; m < 16; m++)
            {
                y[i].Qs[32 + m] = PackTrits(x + m, 16, 5, id);
            }

            x += 80;
            for (int j = 0; j < 4; j++)
            {
                y[i].Qh[j] = PackTrits(x + j, 4, 4, id);
            }

            x += 16;
        }
    }

    /// <summary>Packs <paramref name="count"/> trits (x[0], x[stride], …; the first most significant) into one byte as
    /// a base-3 fraction of 243, rounding up, as TQ1_0 stores them.</summary>
    private static byte PackTrits(float* x, int stride, int count, float id)
    {
        int q = 0;
        for (int n = 0; n < count; n++)
        {
            q = (byte)(q * 3 + (int)RoundAway(x[n * stride] * id) + 1);
        }

        if (count == 4)
        {
            q = (byte)(q * 3);
        }

        return (byte)((q * 256 + 242) / 243);
    }

    internal static void TQ2_0(float* x, BlockTQ2_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++)
        {
            float d = AbsMax256(x);
            float id = d != 0 ? 1.0f / d : 0.0f;
            y[i].D = (Half)d;
            for (int c = 0; c < 64; c += 32, x += 128)
            {
                for (int m = 0; m < 32; m++)
                {
                    int q = 0;
                    for (int n = 0; n < 4; n++)
                    {
                        int xi = (int)RoundAway(x[m + n * 32] * id) + 1;
                        q += (xi & 3) << (2 * n);
                    }

                    y[i].Qs[c + m] = (byte)q;
                }
            }
        }
    }

    /// <summary>llama.cpp's reference: scale = the block's largest magnitude, q = clamp(round(w / scale) + 1, 0, 3).</summary>
    internal static void Q2_0(float* x, BlockQ2_0* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, x += 64)
        {
            float amax = 0;
            for (int j = 0; j < 64; j++)
            {
                amax = Math.Max(amax, MathF.Abs(x[j]));
            }

            float id = amax > 0 ? 1.0f / amax : 0.0f;
            y[i].D = (Half)amax;
            for (int j = 0; j < 16; j++)
            {
                int q = 0;
                for (int n = 0; n < 4; n++)
                {
                    q |= Math.Clamp((int)RoundAway(x[(4 * j) + n] * id) + 1, 0, 3) << (2 * n);
                }

                y[i].Qs[j] = (byte)q;
            }
        }
    }

    /// <summary>
    /// IQ4_NL as <c>llama-quantize</c> writes it without an importance matrix (llama.cpp's <c>quantize_iq4_nl</c>):
    /// per block, weights w = x², a first scale from the largest-magnitude value mapped onto the code book's end, then 15
    /// candidate scales (−max / (Values[0] + k), k = −7…7), each fitted by weighted least squares on its nearest code
    /// indices, keeping the best; the indices are then taken again for the chosen scale (stored as F16).
    /// </summary>
    internal static void IQ4_NL(float* x, BlockIQ4_NL* y, int blocks)
    {
        const int Tries = 7;
        ReadOnlySpan<sbyte> values = BlockIQ4_NL.Values;
        for (int i = 0; i < blocks; i++, x += 32)
        {
            float amax = 0, max = 0;
            for (int j = 0; j < 32; j++)
            {
                float ax = MathF.Abs(x[j]);
                if (ax > amax)
                {
                    amax = ax;
                    max = x[j];
                }
            }

            float d = 0;
            if (amax >= 1e-15f)
            {
                d = -max / values[0];
                (float sumqx, float sumq2) = FitIQ4_NL(x, 1 / d, values);
                d = sumq2 > 0 ? sumqx / sumq2 : 0f;
                float best = d * sumqx;
                for (int t = -Tries; t <= Tries; t++)
                {
                    (sumqx, sumq2) = FitIQ4_NL(x, (t + values[0]) / max, values);
                    if (sumq2 > 0 && sumqx * sumqx > best * sumq2)
                    {
                        d = sumqx / sumq2;
                        best = d * sumqx;
                    }
                }
            }

            y[i].D = (Half)d;
            float id = d != 0 ? 1 / d : 0f;
            for (int j = 0; j < 16; j++)
            {
                y[i].Qs[j] = (byte)(NearestIndex(values, id * x[j]) | (NearestIndex(values, id * x[j + 16]) << 4));
            }
        }
    }

    /// <summary>Σ w·q·x and Σ w·q² (w = x²) over a block, q the code-book value nearest to <c>inverseScale · x</c>.</summary>
    private static (float SumQx, float SumQ2) FitIQ4_NL(float* x, float inverseScale, ReadOnlySpan<sbyte> values)
    {
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++)
        {
            float q = values[NearestIndex(values, inverseScale * x[j])];
            float w = x[j] * x[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }

        return (sumqx, sumq2);
    }

    /// <summary>Index of the sorted code-book value nearest to <paramref name="v"/> (the upper one on a tie).</summary>
    private static int NearestIndex(ReadOnlySpan<sbyte> values, float v)
    {
        if (v <= values[0])
        {
            return 0;
        }

        if (v >= values[^1])
        {
            return values.Length - 1;
        }

        int lo = 0, hi = values.Length - 1;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            if (v < values[mid])
            {
                hi = mid;
            }
            else
            {
                lo = mid;
            }
        }

        return v - values[lo] < values[hi] - v ? lo : hi;
    }
}
