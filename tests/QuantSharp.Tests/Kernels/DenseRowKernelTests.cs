using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using QuantSharp.Kernels;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Kernels;

/// <summary>The fused convert-and-multiply decode kernels against their scalar references.</summary>
public unsafe class DenseRowKernelTests
{
    private static float[] RandomFloats(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    private static byte[] Encode(DType dtype, float[] w) => dtype switch
    {
        DType.F32 => MemoryMarshal.AsBytes(w.AsSpan()).ToArray(),
        DType.F16 => MemoryMarshal.AsBytes(w.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
        _ => MemoryMarshal.AsBytes(w.Select(BFloat16.FromSingle).ToArray().AsSpan()).ToArray(),
    };

    private static void MatVec(DType dtype, byte* w, int k, float* x, float* y, int rows)
    {
        switch (dtype)
        {
            case DType.F32: DenseRowKernels.MatVecRows<F32Loader>(w, k, x, y, 0, rows); break;
            case DType.F16: DenseRowKernels.MatVecRows<F16Loader>(w, k, x, y, 0, rows); break;
            default: DenseRowKernels.MatVecRows<BF16Loader>(w, k, x, y, 0, rows); break;
        }
    }

    private static float Reference(DType dtype, byte* w, float* x, int k) => dtype switch
    {
        DType.F32 => DenseRowKernels.DotReference<F32Loader>(w, x, k),
        DType.F16 => DenseRowKernels.DotReference<F16Loader>(w, x, k),
        _ => DenseRowKernels.DotReference<BF16Loader>(w, x, k),
    };

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void MatVecRowsEqualsReferenceForEveryLength(DType dtype)
    {
        const int rows = 7; // one 4-row tile and three single rows
        for (int k = 0; k <= 257; k++)
        {
            byte[] w = Encode(dtype, RandomFloats(rows * k, k));
            float[] x = RandomFloats(k, 1000 + k);
            float[] y = new float[rows];
            fixed (byte* pw = w)
            fixed (float* px = x, py = y)
            {
                MatVec(dtype, pw, k, px, py, rows);
                for (int r = 0; r < rows; r++)
                {
                    float expected = Reference(dtype, pw + ((long)r * k * (w.Length / Math.Max(1, rows * k))), px, k);
                    Assert.True(Math.Abs(expected - py[r]) <= 1e-5f * Math.Max(1f, MathF.Sqrt(k)), $"{dtype} k={k} row {r}: expected {expected}, got {py[r]}");
                }
            }
        }
    }

    [Fact]
    public void F16ConversionIsExactForEveryBitPattern()
    {
        var all = new ushort[65536];
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = (ushort)i;
        }

        fixed (ushort* p = all)
        {
            for (int i = 0; i < all.Length; i += 8)
            {
                var v = F16Loader.Load8((byte*)(p + i));
                for (int j = 0; j < 8; j++)
                {
                    float expected = (float)BitConverter.UInt16BitsToHalf(all[i + j]);
                    float actual = v[j];
                    Assert.True(
                        float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
                        $"half 0x{i + j:X4}: expected {expected}, got {actual}");
                }
            }
        }
    }

    [Fact]
    public void BF16ConversionIsExact()
    {
        ushort[] bits = [0x0000, 0x8000, 0x3F80, 0xBF80, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x4049, 0xC2F7];
        ushort[] padded = [.. bits, 0, 0, 0, 0, 0, 0];
        fixed (ushort* p = padded)
        {
            for (int i = 0; i < 8; i++)
            {
                var v = BF16Loader.Load8((byte*)(p + i));
                Assert.Equal(BitConverter.SingleToInt32Bits(BFloat16.ToSingle(padded[i])), BitConverter.SingleToInt32Bits(v[0]));
            }
        }
    }
}

/// <summary>The fast F16 path's special-value fallback.</summary>
public unsafe class F16SpecialValueTests
{
    [Theory]
    [InlineData(0x7C00)] // +inf
    [InlineData(0xFC00)] // -inf
    [InlineData(0x7E00)] // NaN
    public void SpecialWeightGivesTheSameResultAsTheReference(int special)
    {
        const int rows = 4, k = 40;
        var rng = new Random(special);
        Half[] w = Enumerable.Range(0, rows * k).Select(_ => (Half)((rng.NextDouble() * 2) - 1)).ToArray();
        w[(2 * k) + 17] = BitConverter.UInt16BitsToHalf((ushort)special);
        float[] x = Enumerable.Range(0, k).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
        float[] y = new float[rows];
        fixed (Half* pw = w)
        fixed (float* px = x, py = y)
        {
            DenseRowKernels.MatVecRows<F16Loader>((byte*)pw, k, px, py, 0, rows);
            for (int r = 0; r < rows; r++)
            {
                float expected = DenseRowKernels.DotReference<F16Loader>((byte*)(pw + (r * k)), px, k);
                Assert.True(float.IsNaN(expected) ? float.IsNaN(y[r]) : (float.IsInfinity(expected) ? expected == y[r] : Math.Abs(expected - y[r]) < 1e-4f), $"row {r}: expected {expected}, got {y[r]}");
            }
        }
    }

    [Fact]
    public void FastConversionIsExactForEveryFiniteHalf()
    {
        var all = new ushort[65536];
        for (int i = 0; i < all.Length; i++)
        {
            all[i] = (ushort)i;
        }

        fixed (ushort* p = all)
        {
            for (int i = 0; i < all.Length; i += 8)
            {
                Vector256<uint> flags = default;
                Vector256<float> v = F16Loader.Load8Fast((byte*)(p + i), ref flags);
                bool anySpecial = false;
                for (int j = 0; j < 8; j++)
                {
                    Half h = BitConverter.UInt16BitsToHalf(all[i + j]);
                    anySpecial |= !Half.IsFinite(h);
                    if (Half.IsFinite(h))
                    {
                        Assert.Equal(BitConverter.SingleToInt32Bits((float)h), BitConverter.SingleToInt32Bits(v[j]));
                    }
                }

                Assert.Equal(anySpecial, F16Loader.AnySpecial(flags));
            }
        }
    }
}
