using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Quantization;

namespace QuantSharp.Kernels;

/// <summary>Dot product of a packed int4 row (<see cref="Int4Scheme"/>, <see cref="PackLayout"/> 4-bit order) with
/// int8-quantized activations, and the scalar reference the AVX2 path is tested against.</summary>
/// <remarks>Per 32-chunk c of group g: <c>s_g · d_c · (Σ q·x − z_g · Σ x)</c>; the code sum uses unsigned codes as
/// maddubs's unsigned operand, and the zero-point term is folded in with the precomputed activation sums.</remarks>
[SkipLocalsInit]
internal static unsafe class Int4Kernels
{
    /// <summary>Scalar reference over <paramref name="chunks"/> chunks; <paramref name="zeros"/> null = symmetric (zero 8).</summary>
    internal static float DotReference(byte* packed, Half* scales, byte* zeros, int groupChunks, int chunks, sbyte* q, float* d, int* sums)
    {
        float acc = 0;
        for (int c = 0; c < chunks; c++)
        {
            int g = c / groupChunks;
            int zero = zeros == null ? 8 : zeros[g];
            byte* p = packed + (c * 16);
            sbyte* x = q + (c * 32);
            int dot = 0;
            for (int j = 0; j < 16; j++)
            {
                dot += ((p[j] & 0xF) * x[j]) + ((p[j] >> 4) * x[j + 16]);
            }

            acc += (float)scales[g] * d[c] * (dot - (zero * sums[c]));
        }

        return acc;
    }

    /// <summary>Same as <see cref="DotReference"/>, AVX2 when available.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(byte* packed, Half* scales, byte* zeros, int groupChunks, int chunks, sbyte* q, float* d, int* sums)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            return DotReference(packed, scales, zeros, groupChunks, chunks, q, d, sums);
        }

        Vector256<short> ones = Vector256.Create((short)1);
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        Vector256<float> acc = Vector256<float>.Zero;
        float correction = 0;
        for (int g = 0, c = 0; c < chunks; g++)
        {
            float scale = (float)scales[g];
            int zero = zeros == null ? 8 : zeros[g];
            int end = Math.Min(chunks, c + groupChunks);
            for (; c < end; c++)
            {
                Vector128<byte> raw = Sse2.LoadVector128(packed + (c * 16));
                Vector256<byte> codes = Vector256.Create(raw, Sse2.ShiftRightLogical(raw.AsUInt16(), 4).AsByte()) & low;
                Vector256<short> pairs = Avx2.MultiplyAddAdjacent(codes, Avx.LoadVector256(q + (c * 32)));
                float f = scale * d[c];
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, ones)), Vector256.Create(f), acc);
                correction += f * (zero * sums[c]);
            }
        }

        return Vector256.Sum(acc) - correction;
    }
}
