using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Quantization;

namespace QuantSharp.Kernels;

/// <summary>Dot product of a packed NF4/FP4 row (<see cref="FourBitFloatScheme"/>) with float activations padded to
/// whole 32-chunks, and the scalar reference the AVX2 path is tested against.</summary>
/// <remarks>Activations stay float here (the code-book values are not on an integer grid): each code is looked up
/// in the 16-entry code book with two <c>vpermps</c> and a blend on bit 3, then fused-multiply-added with x; one
/// multiply by the block's absmax per 64 inputs.</remarks>
[SkipLocalsInit]
internal static unsafe class FourBitFloatKernels
{
    /// <summary>Scalar reference: <c>Σ_b absmax[b] · Σ_{c∈b} code[q(c)] · x[c]</c> over <paramref name="chunks"/> chunks.</summary>
    internal static float DotReference(byte* packed, float* absmax, int chunks, float* x, float* code)
    {
        float acc = 0;
        for (int c0 = 0; c0 < chunks; c0 += 2)
        {
            float block = 0;
            for (int c = c0; c < Math.Min(chunks, c0 + 2); c++)
            {
                byte* p = packed + (c * 16);
                float* xc = x + (c * 32);
                for (int j = 0; j < 16; j++)
                {
                    block += code[p[j] & 0xF] * xc[j];
                    block += code[p[j] >> 4] * xc[j + 16];
                }
            }

            acc += absmax[c0 / 2] * block;
        }

        return acc;
    }

    /// <summary>Same as <see cref="DotReference"/>, AVX2 when available.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(byte* packed, float* absmax, int chunks, float* x, float* code)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            return DotReference(packed, absmax, chunks, x, code);
        }

        Vector256<float> lut0 = Avx.LoadVector256(code);
        Vector256<float> lut1 = Avx.LoadVector256(code + 8);
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        Vector256<float> acc = Vector256<float>.Zero;
        for (int c0 = 0; c0 < chunks; c0 += 2)
        {
            Vector256<float> b0 = Vector256<float>.Zero, b1 = Vector256<float>.Zero;
            int end = Math.Min(chunks, c0 + 2);
            for (int c = c0; c < end; c++)
            {
                Vector128<byte> raw = Sse2.LoadVector128(packed + (c * 16));
                Vector256<byte> codes = Vector256.Create(raw, Sse2.ShiftRightLogical(raw.AsUInt16(), 4).AsByte()) & low;
                float* xc = x + (c * 32);
                Vector128<byte> lo = codes.GetLower(), hi = codes.GetUpper();
                b0 = Fma.MultiplyAdd(Lookup(lo, lut0, lut1), Avx.LoadVector256(xc), b0);
                b1 = Fma.MultiplyAdd(Lookup(Sse2.ShiftRightLogical128BitLane(lo, 8), lut0, lut1), Avx.LoadVector256(xc + 8), b1);
                b0 = Fma.MultiplyAdd(Lookup(hi, lut0, lut1), Avx.LoadVector256(xc + 16), b0);
                b1 = Fma.MultiplyAdd(Lookup(Sse2.ShiftRightLogical128BitLane(hi, 8), lut0, lut1), Avx.LoadVector256(xc + 24), b1);
            }

            acc = Fma.MultiplyAdd(b0 + b1, Vector256.Create(absmax[c0 / 2]), acc);
        }

        return Vector256.Sum(acc);
    }

    /// <summary>Code-book values of the 8 codes in the low 8 bytes of <paramref name="codes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lookup(Vector128<byte> codes, Vector256<float> lut0, Vector256<float> lut1)
    {
        Vector256<int> index = Avx2.ConvertToVector256Int32(codes);
        Vector256<float> a = Avx2.PermuteVar8x32(lut0, index);
        Vector256<float> b = Avx2.PermuteVar8x32(lut1, index);
        // Bit 3 of the code moved to the sign bit selects the upper half of the code book.
        return Avx.BlendVariable(a, b, Avx2.ShiftLeftLogical(index, 28).AsSingle());
    }
}
