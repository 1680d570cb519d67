using QuantSharp.Quantization;

namespace QuantSharp.Kernels;

/// <summary>
/// Dot products of packed int2 and int3 rows (<see cref="IntGroupScheme"/>: a little-endian bit stream, code i in bits
/// b·i..b·i+b−1, 8 or 12 bytes per 32 codes) with int8-quantized activations, through <see cref="GroupedDot4"/>, and the
/// scalar reference they are tested against.
/// </summary>
/// <remarks>
/// Int3 chunks are unpacked in order by <see cref="Int3Codes"/>. For int2, <see cref="Crumb2Codes"/> read on the stream (the chunk's 8 bytes shifted by 0/2/4/6 bits per 64-bit lane) yields
/// code <c>4k + m</c> at position <c>8m + k</c> (k the byte, m the crumb in it). Rather than shuffle every weight chunk
/// back into order, the activations are permuted once per call into the same order (<see cref="PermuteActivations"/>):
/// a chunk's integer dot is a sum over pairs, so pairing code and input the same way gives the same integer, and the
/// per-chunk scale and activation sum do not depend on the order. Per group g of row r:
/// <c>s_g · Σ_{c∈g} d_c · (Σ code·q − z_g · Σ q)</c>, the zero-point term folded in from precomputed group sums as int4 does.
/// </remarks>
[SkipLocalsInit]
internal static unsafe class IntGroupKernels
{
    /// <summary>For int2: permutes each of <paramref name="chunks"/> 32-byte activation chunks in place into the order
    /// <see cref="Crumb2Codes"/> yields the stream's codes: input <c>4k + m</c> moves to position <c>8m + k</c>.</summary>
    internal static void PermuteActivations(sbyte* q, long chunks)
    {
        if (Avx2.IsSupported)
        {
            // Within each 16-byte lane gather k-major → m-major (4 dwords: m = 0..3 for k = 0..3 or 4..7), then interleave
            // the two lanes' dwords so that m's k = 0..3 and k = 4..7 sit side by side.
            Vector256<byte> inLane = Vector256.Create((byte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            Vector256<int> dwords = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
            for (long c = 0; c < chunks; c++)
            {
                byte* p = (byte*)q + (c * 32);
                Vector256<byte> v = Avx2.Shuffle(Avx.LoadVector256(p), inLane);
                Avx.Store(p, Avx2.PermuteVar8x32(v.AsInt32(), dwords).AsByte());
            }

            return;
        }

        sbyte* chunk = stackalloc sbyte[32];
        for (long c = 0; c < chunks; c++)
        {
            sbyte* p = q + (c * 32);
            for (int i = 0; i < 32; i++)
            {
                chunk[i] = p[i];
            }

            for (int k = 0; k < 8; k++)
            {
                for (int m = 0; m < 4; m++)
                {
                    p[(8 * m) + k] = chunk[(4 * k) + m];
                }
            }
        }
    }

    /// <summary>The sums of four rows of <typeparamref name="TCodes"/> codes, row i's codes at <c>packed + i · rowStride</c>,
    /// its F32 scales and zeros at <c>i · groupStride</c> (strides of 0 repeat one row: the tail rows take exactly the
    /// four-row arithmetic). <paramref name="q"/> in the order the codes unpack; <paramref name="zeros"/> null is
    /// symmetric (every zero <paramref name="symmetricZero"/>). Requires AVX2 and FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4<TCodes>(byte* packed, long rowStride, float* scales, byte* zeros, int symmetricZero, long groupStride, int groups, int groupChunks, int chunks, sbyte* q, float* d, float* groupDSums, float* result)
        where TCodes : struct, IChunkCodes
    {
        GroupedDot4.Sums<TCodes>(packed, rowStride, scales, groupStride, groupChunks, chunks, q, d, result);
        for (int i = 0; i < 4; i++)
        {
            result[i] -= Int4Kernels.Correction(scales + (i * groupStride), zeros == null ? null : zeros + (i * groupStride), symmetricZero, groups, groupDSums);
        }
    }

    /// <summary>Scalar reference of one row of <see cref="Dot4{TCodes}"/> for <paramref name="bits"/>-bit codes on
    /// activations in their natural order: <c>Σ_c s_g · d_c · Σ_j code_j · q_j − Σ_g s_g · z_g · groupDSums[g]</c>.</summary>
    internal static float DotReference(int bits, byte* packed, float* scales, byte* zeros, int groupChunks, int chunks, sbyte* q, float* d, float* groupDSums)
    {
        float acc = 0;
        for (int c = 0; c < chunks; c++)
        {
            int dot = 0;
            for (int j = 0; j < 32; j++)
            {
                int i = (c * 32) + j, bit = bits * i;
                int window = packed[bit >> 3] | ((bit >> 3) + 1 < (c + 1) * 4 * bits ? packed[(bit >> 3) + 1] << 8 : 0);
                dot += ((window >> (bit & 7)) & ((1 << bits) - 1)) * q[i];
            }

            acc += scales[c / groupChunks] * d[c] * dot;
        }

        return acc - Int4Kernels.Correction(scales, zeros, IntGroupScheme.SymmetricZero(bits), (chunks + groupChunks - 1) / groupChunks, groupDSums);
    }
}
