using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Kernels;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// The inf/NaN-free F16 decode kernels (raw-bit conversion, activations pre-scaled by 2^(112−s)): every path the
/// machine has (scalar, AVX2 and AVX-512 each called directly, each with its single-row and its four-row loop) against the double-precision scalar reference, and
/// DenseLinear's choice between them and the exact-conversion kernels.
/// </summary>
public unsafe class F16RowKernelTests
{
    /// <summary>The kernel paths this machine can run (AVX2 ones also on an AVX-512 machine).</summary>
    private static List<string> PathNames()
    {
        var paths = new List<string> { "scalar" };
        if (Avx2.IsSupported && Fma.IsSupported)
        {
            paths.Add("avx2-rows");
            paths.Add("avx2-tiles");
        }

        if (Avx512F.IsSupported && Avx512BW.IsSupported)
        {
            paths.Add("avx512-rows");
            paths.Add("avx512-tiles");
        }

        return paths;
    }

    public static TheoryData<string> Paths() => new(PathNames());

    private static void Run(string path, byte* w, int k, float* scaled, int shift, float* y, int start, int end)
    {
        switch (path)
        {
            case "scalar": F16RowKernels.MatVecRowsScalar(w, k, scaled, shift, y, start, end); break;
            // "rows": one row at a time whatever k; "tiles": four-row tiles (and single leftover rows) whatever k.
            case "avx2-rows": F16RowKernels.MatVecRowsAvx2(w, k, scaled, shift, y, start, end, int.MaxValue); break;
            case "avx2-tiles": F16RowKernels.MatVecRowsAvx2(w, k, scaled, shift, y, start, end, 0); break;
            case "avx512-rows": F16RowKernels.MatVecRowsAvx512(w, k, scaled, shift, y, start, end, int.MaxValue); break;
            default: F16RowKernels.MatVecRowsAvx512(w, k, scaled, shift, y, start, end, 0); break;
        }
    }

    /// <summary>Scales x, runs the kernel over all rows, and returns y.</summary>
    private static float[] MatVec(string path, Half[] w, float[] x, int rows)
    {
        int k = x.Length;
        float[] scaled = new float[k];
        float[] y = new float[rows];
        int shift = F16RowKernels.ScaleActivations(x, scaled);
        fixed (Half* pw = w)
        fixed (float* ps = scaled, py = y)
        {
            Run(path, (byte*)pw, k, ps, shift, py, 0, rows);
        }

        return y;
    }

    private static double Reference(Half[] w, int row, float[] x)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sum += (double)w[(row * x.Length) + i] * x[i];
        }

        return sum;
    }

    /// <summary>Float error bound of a k-term dot product: (k + 2)·2⁻²⁴·Σ|w·x|, plus the float subnormal spacing.</summary>
    private static double Bound(Half[] w, int row, float[] x)
    {
        double magnitude = 0;
        for (int i = 0; i < x.Length; i++)
        {
            magnitude += Math.Abs((double)w[(row * x.Length) + i] * x[i]);
        }

        return ((x.Length + 2) * Math.ScaleB(1.0, -24) * magnitude) + Math.ScaleB(1.0, -140);
    }

    private static Half[] RandomHalves(int n, Random rng) => Enumerable.Range(0, n).Select(_ => (Half)((rng.NextDouble() * 2) - 1)).ToArray();

    [Theory]
    [MemberData(nameof(Paths))]
    public void EqualsReferenceForOddLengthsAndEveryRowRemainder(string path)
    {
        var rng = new Random(11);
        foreach (int k in new[] { 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 172, 4097 })
        {
            const int rows = 7; // one 4-row tile and three single rows
            Half[] w = RandomHalves(rows * k, rng);
            float[] x = Enumerable.Range(0, k).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
            float[] y = MatVec(path, w, x, rows);
            for (int r = 0; r < rows; r++)
            {
                double expected = Reference(w, r, x);
                Assert.True(Math.Abs(expected - y[r]) <= Bound(w, r, x), $"{path} k={k} row {r}: expected {expected}, got {y[r]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void HugeAndTinyActivationsKeepFullPrecision(string path)
    {
        var rng = new Random(5);
        const int rows = 6, k = 172;
        Half[] w = RandomHalves(rows * k, rng);
        foreach (double magnitude in new[] { 1e30, 3e38, 1e4, 7e4, 1e-30, 1e-38 })
        {
            // Magnitudes spread over 2^-20 … 1 of the largest, with random signs.
            float[] x = Enumerable.Range(0, k).Select(_ => (float)(magnitude * Math.ScaleB(1.0, -rng.Next(0, 21)) * (rng.Next(2) == 0 ? -1 : 1))).ToArray();
            float[] y = MatVec(path, w, x, rows);
            for (int r = 0; r < rows; r++)
            {
                double expected = Reference(w, r, x);
                if (Math.Abs(expected) > float.MaxValue)
                {
                    Assert.True(float.IsInfinity(y[r]) && Math.Sign(y[r]) == Math.Sign(expected), $"{path} |x|~{magnitude} row {r}: expected overflow, got {y[r]}");
                    continue;
                }

                Assert.True(Math.Abs(expected - y[r]) <= Bound(w, r, x), $"{path} |x|~{magnitude} row {r}: expected {expected}, got {y[r]}");
            }
        }
    }

    /// <summary>
    /// Each finite half times a one-hot x of several magnitudes gives exactly the float-rounded product h·x: the raw
    /// conversion and the activation scaling are exact for all 63488 finite halves, including subnormals and ±0.
    /// </summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void EveryFiniteHalfTimesOneHotIsTheRoundedProduct(string path)
    {
        Half[] finite = Enumerable.Range(0, 65536).Select(i => BitConverter.UInt16BitsToHalf((ushort)i)).Where(Half.IsFinite).ToArray();
        const int k = 32; // a whole AVX-512 step, two AVX2 steps
        int rows = finite.Length / k;
        Assert.Equal(63488, rows * k);
        foreach (float value in new[] { 1f, -3.5f, 1e30f, -3e38f, 1e-30f, 1e-38f })
        {
            for (int j = 0; j < k; j++)
            {
                float[] x = new float[k];
                x[j] = value;
                float[] y = MatVec(path, finite, x, rows);
                for (int r = 0; r < rows; r++)
                {
                    Half h = finite[(r * k) + j];
                    float expected = (float)((double)h * value);
                    Assert.True(expected == 0 ? y[r] == 0 : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(y[r]), $"{path} half 0x{BitConverter.HalfToUInt16Bits(h):X4} × {value}: expected {expected}, got {y[r]}");
                }
            }
        }
    }

    [Fact]
    public void RawConversionTimesTwoTo112IsTheHalfForEveryFiniteHalf()
    {
        for (int i = 0; i < 65536; i++)
        {
            Half h = BitConverter.UInt16BitsToHalf((ushort)i);
            if (Half.IsFinite(h))
            {
                Assert.Equal(BitConverter.SingleToInt32Bits((float)h), BitConverter.SingleToInt32Bits(F16RowKernels.Raw((ushort)i) * MathF.ScaleB(1f, 112)));
            }
        }
    }

    [Theory]
    [InlineData(0.5f, 0)]
    [InlineData(32767f, 0)]
    [InlineData(32768f, 1)]
    [InlineData(65536f, 2)]
    [InlineData(1e30f, 85)]
    [InlineData(float.MaxValue, 113)]
    [InlineData(float.PositiveInfinity, 0)]
    [InlineData(float.NaN, 0)]
    public void ScaleActivationsPicksTheSmallestSafeShift(float largest, int shift)
    {
        float[] x = [0.25f, -largest, 1e-40f, 3f];
        float[] scaled = new float[x.Length];
        Assert.Equal(shift, F16RowKernels.ScaleActivations(x, scaled));
        for (int i = 0; i < x.Length; i++)
        {
            float expected = (float)Math.ScaleB(x[i], 112 - shift);
            Assert.True(float.IsNaN(expected) ? float.IsNaN(scaled[i]) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(scaled[i]), $"x={x[i]}: expected {expected}, got {scaled[i]}");
            Assert.True(!float.IsFinite(x[i]) || Math.Abs(scaled[i]) < Math.ScaleB(1.0, 127));
        }
    }

    [Fact]
    public void InfOrNaNScanFindsExponent31Anywhere()
    {
        ushort[] halves = new ushort[53];
        fixed (ushort* p = halves)
        {
            Assert.False(F16RowKernels.HasInfOrNaN(p, halves.Length));
            foreach (ushort special in new ushort[] { 0x7C00, 0xFC00, 0x7E00, 0xFFFF, 0x7C01 })
            {
                foreach (int at in new[] { 0, 15, 16, 47, 52 })
                {
                    halves[at] = special;
                    Assert.True(F16RowKernels.HasInfOrNaN(p, halves.Length), $"0x{special:X4} at {at}");
                    halves[at] = 0x7BFF; // largest finite
                    Assert.False(F16RowKernels.HasInfOrNaN(p, halves.Length));
                }
            }
        }
    }

    private static DenseLinear F16Linear(Half[] w, int rows, int cols)
        => new(TensorView.FromBytes("w", DType.F16, [rows, cols], MemoryMarshal.AsBytes(w.AsSpan())));

    [Theory]
    [InlineData(0x7C00)] // +inf
    [InlineData(0xFC00)] // -inf
    [InlineData(0x7E00)] // NaN
    [InlineData(0)] // none: the fast kernels
    public void DenseLinearMatVecMatchesReferenceWithAndWithoutSpecialWeights(int special)
    {
        const int rows = 9, k = 70;
        var rng = new Random(special);
        Half[] w = RandomHalves(rows * k, rng);
        if (special != 0)
        {
            w[(5 * k) + 33] = BitConverter.UInt16BitsToHalf((ushort)special);
        }

        float[] x = Enumerable.Range(0, k).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
        float[] y = new float[rows];
        DenseLinear linear = F16Linear(w, rows, k);
        for (int call = 0; call < 2; call++)
        {
            linear.MatVec(x, y);
            for (int r = 0; r < rows; r++)
            {
                double expected = Reference(w, r, x);
                Assert.True(
                    double.IsNaN(expected) ? float.IsNaN(y[r]) : double.IsInfinity(expected) ? expected == y[r] : Math.Abs(expected - y[r]) <= Bound(w, r, x),
                    $"special 0x{special:X4} call {call} row {r}: expected {expected}, got {y[r]}");
            }
        }
    }

    [Fact]
    public void InfiniteActivationPropagatesAsInTheUnscaledProduct()
    {
        const int rows = 5, k = 40;
        Half[] w = RandomHalves(rows * k, new Random(2));
        w[(3 * k) + 7] = Half.Zero; // 0 · inf = NaN in row 3
        float[] x = Enumerable.Repeat(0.5f, k).ToArray();
        x[7] = float.PositiveInfinity;
        foreach (string path in PathNames())
        {
            float[] y = MatVec(path, w, x, rows);
            for (int r = 0; r < rows; r++)
            {
                double expected = Reference(w, r, x);
                Assert.True(double.IsNaN(expected) ? float.IsNaN(y[r]) : expected == y[r], $"{path} row {r}: expected {expected}, got {y[r]}");
            }
        }
    }

    [Fact]
    public void ConvertFiniteEqualsTheExactConversionForEveryFiniteHalf()
    {
        // Every finite bit pattern (exponent < 31), an odd count so the vector loops leave a scalar tail.
        ushort[] halves = [.. Enumerable.Range(0, 65536).Where(h => (h & 0x7C00) != 0x7C00).Select(h => (ushort)h), 0x3C00];
        float[] expected = new float[halves.Length];
        System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(halves), expected);
        float[] got = new float[halves.Length];
        fixed (ushort* p = halves)
        fixed (float* q = got)
        {
            F16RowKernels.ConvertFinite(p, q, halves.Length);
        }

        for (int i = 0; i < halves.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(got[i]), $"half 0x{halves[i]:X4}: {expected[i]} vs {got[i]}");
        }
    }
}
