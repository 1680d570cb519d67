using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
            byte* p = packed + (c * 8);
            sbyte* x = q + (c * 32);
            int dot = 0;
            for (int j = 0; j < 8; j++)
            {
                for (int k = 0; k < 4; k++)
                {
                    dot += ((p[j] >> (2 * k)) & 3) * x[j + (8 * k)];
                }
            }

            acc += scales[c / groupChunks] * d[c] * (dot - sums[c]);
        }

        return acc;
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
}
