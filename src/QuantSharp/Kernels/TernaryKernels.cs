using QuantSharp.Quantization;

namespace QuantSharp.Kernels;

/// <summary>Dot product of a packed ternary row (<see cref="TernaryScheme"/>, <see cref="PackLayout"/> 2-bit order)
/// with int8-quantized activations, and the scalar reference the AVX2 path is tested against.</summary>
/// <remarks>Stored codes are t + 1 ∈ {0, 1, 2}: per 32-chunk c, <c>s · d_c · (Σ code·x − Σ x)</c>, so maddubs takes
/// the codes as its unsigned operand and no sign handling is needed.</remarks>
[SkipLocalsInit]
internal static unsafe class TernaryKernels
{
    /// <summary>Scalar reference; scale of chunk c is <c>scales[c / groupChunks]</c>.</summary>
    internal static float DotReference(byte* packed, float* scales, int groupChunks, int chunks, sbyte* q, float* d, int* sums)
    {
        float acc = 0;
        for (int c = 0; c < chunks; c++)
        {
            int dot = ChunkDotReference(packed + (c * 8), q + (c * 32));

            acc += scales[c / groupChunks] * d[c] * (dot - sums[c]);
        }

        return acc;
    }

    /// <summary>Σ code·x over one chunk: 8 bytes of 2-bit codes (code k of byte j is weight j + 8k) and 32 activations.</summary>
    private static int ChunkDotReference(byte* p, sbyte* x)
    {
        int dot = 0;
        for (int j = 0; j < 8; j++)
        {
            for (int k = 0; k < 4; k++)
            {
                dot += ((p[j] >> (2 * k)) & 3) * x[j + (8 * k)];
            }
        }

        return dot;
    }

    /// <summary>Same as <see cref="DotReference"/>, AVX2 when available: one 8-byte load per chunk, shifted by 0/2/4/6 per 64-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(byte* packed, float* scales, int groupChunks, int chunks, sbyte* q, float* d, int* sums)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            return DotReference(packed, scales, groupChunks, chunks, q, d, sums);
        }

        Vector256<short> ones = Vector256.Create((short)1);
        Vector256<byte> mask = Vector256.Create((byte)3);
        Vector256<ulong> shifts = Vector256.Create(0UL, 2UL, 4UL, 6UL);
        Vector256<float> acc = Vector256<float>.Zero;
        float correction = 0;
        for (int g = 0, c = 0; c < chunks; g++)
        {
            float scale = scales[g];
            int end = Math.Min(chunks, c + groupChunks);
            for (; c < end; c++)
            {
                Vector256<ulong> bits = Vector256.Create(Unsafe.ReadUnaligned<ulong>(packed + (c * 8)));
                Vector256<byte> codes = Avx2.ShiftRightLogicalVariable(bits, shifts).AsByte() & mask;
                Vector256<short> pairs = Avx2.MultiplyAddAdjacent(codes, Avx.LoadVector256(q + (c * 32)));
                float f = scale * d[c];
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, ones)), Vector256.Create(f), acc);
                correction += f * sums[c];
            }
        }

        return Vector256.Sum(acc) - correction;
    }
    /// <summary>Per activation vector, for <see cref="DotRowUniformAvx512"/>: each chunk's scale d[c] repeated 8 times
    /// (<paramref name="expanded"/>, chunks · 8 floats) and Σ_c d[c]·sums[c] (returned).</summary>
    internal static float ExpandScales(float* d, int* sums, int chunks, float* expanded)
    {
        float ds = 0;
        for (int c = 0; c < chunks; c++)
        {
            Avx.Store(expanded + (c * 8), Vector256.Create(d[c]));
            ds += d[c] * sums[c];
        }

        return ds;
    }

    /// <summary>
    /// Decode dot product of one row whose chunks all share one scale (per-row or per-tensor ternary), AVX-512: two
    /// chunks (16 bytes, 64 weights) per 512-bit step — each chunk's 8 bytes in four 64-bit lanes shifted by 0, 2, 4, 6
    /// bits give its 32 codes in weight order; <c>maddubs</c> + <c>madd</c> against 64 activation bytes give 8 int32 sums
    /// per chunk; one convert and one FMA by the chunks' activation scales (<paramref name="expanded"/>,
    /// <see cref="ExpandScales"/>). Returns <c>scale · (Σ_c d_c · Σ codes·x − ds)</c>: <see cref="DotReference"/> with
    /// the "− Σx" term of the codes' offset in <paramref name="ds"/>. One row is one sequential stream per thread.
    /// Requires AVX-512 F/BW.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotRowUniformAvx512(byte* packed, float scale, int chunks, sbyte* q, float* expanded, float ds)
    {
        Vector512<ulong> spread = Vector512.Create(0ul, 0, 0, 0, 1, 1, 1, 1);
        Vector512<ulong> shifts = Vector512.Create(0ul, 2, 4, 6, 0, 2, 4, 6);
        Vector512<byte> mask = Vector512.Create((byte)3);
        Vector512<short> ones = Vector512.Create((short)1);
        Vector512<float> acc0 = default, acc1 = default;
        int c = 0;
        for (; c + 4 <= chunks; c += 4)
        {
            acc0 = Avx512F.FusedMultiplyAdd(Pair512(packed + (c * 8), q + (c * 32), spread, shifts, mask, ones), Avx512F.LoadVector512(expanded + (c * 8)), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Pair512(packed + ((c + 2) * 8), q + ((c + 2) * 32), spread, shifts, mask, ones), Avx512F.LoadVector512(expanded + ((c + 2) * 8)), acc1);
        }

        for (; c + 2 <= chunks; c += 2)
        {
            acc0 = Avx512F.FusedMultiplyAdd(Pair512(packed + (c * 8), q + (c * 32), spread, shifts, mask, ones), Avx512F.LoadVector512(expanded + (c * 8)), acc0);
        }

        float sum = Vector512.Sum(acc0 + acc1);
        if (c < chunks)
        {
            // An odd last chunk: 256-bit.
            Vector256<ulong> bits = Vector256.Create(Unsafe.ReadUnaligned<ulong>(packed + (c * 8)));
            Vector256<byte> codes = Avx2.ShiftRightLogicalVariable(bits, Vector256.Create(0ul, 2, 4, 6)).AsByte() & Vector256.Create((byte)3);
            Vector256<int> dot = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(codes, Avx.LoadVector256(q + (c * 32))), Vector256.Create((short)1));
            sum += Vector256.Sum(Avx.ConvertToVector256Single(dot)) * expanded[c * 8];
        }

        return scale * (sum - ds);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pair512(byte* p, sbyte* q, Vector512<ulong> spread, Vector512<ulong> shifts, Vector512<byte> mask, Vector512<short> ones)
    {
        Vector512<ulong> bits = Avx512F.PermuteVar8x64(Avx512F.BroadcastVector128ToVector512((int*)p).AsUInt64(), spread);
        Vector512<byte> codes = Avx512F.ShiftRightLogicalVariable(bits, shifts).AsByte() & mask;
        Vector512<int> dot = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(codes, Avx512BW.LoadVector512(q)), ones);
        return Avx512F.ConvertToVector512Single(dot);
    }

    /// <summary>
    /// Dot products of four consecutive rows (<paramref name="rowBytes"/> apart) with the same activations, as
    /// <see cref="DotReference"/> computes them per row: activation loads and scale broadcasts are shared by the rows,
    /// products go through <c>vpdpbusd</c> where AVX-VNNI exists, and the "− Σ x" term of the t + 1 codes is
    /// <c>Σ_g s_g · groupDSums[g]</c> with the group sums precomputed once per activation vector
    /// (<see cref="Int4Kernels.GroupDSums"/>). Row i's scales start at <c>scales + i · scaleRowStride</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4(byte* packed, int rowBytes, float* scales, long scaleRowStride, int groupChunks, int chunks, sbyte* q, float* d, float* groupDSums, float* result)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            for (int i = 0; i < 4; i++)
            {
                result[i] = DotReferenceGrouped(packed + (i * rowBytes), scales + (i * scaleRowStride), groupChunks, chunks, q, d, groupDSums);
            }

            return;
        }

        GroupedDot4.Sums<Crumb2Codes>(packed, rowBytes, scales, scaleRowStride, groupChunks, chunks, q, d, result);
        int groups = (chunks + groupChunks - 1) / groupChunks;
        for (int i = 0; i < 4; i++)
        {
            result[i] -= Correction(scales + (i * scaleRowStride), groups, groupDSums);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Correction(float* scales, int groups, float* groupDSums)
    {
        float sum = 0;
        for (int g = 0; g < groups; g++)
        {
            sum += scales[g] * groupDSums[g];
        }

        return sum;
    }

    /// <summary>Scalar form of <see cref="Dot4"/> for one row (precomputed group sums); the non-AVX2 path.</summary>
    internal static float DotReferenceGrouped(byte* packed, float* scales, int groupChunks, int chunks, sbyte* q, float* d, float* groupDSums)
    {
        float acc = 0;
        for (int c = 0; c < chunks; c++)
        {
            int dot = ChunkDotReference(packed + (c * 8), q + (c * 32));

            acc += scales[c / groupChunks] * d[c] * dot;
        }

        return acc - Correction(scales, (chunks + groupChunks - 1) / groupChunks, groupDSums);
    }
}
