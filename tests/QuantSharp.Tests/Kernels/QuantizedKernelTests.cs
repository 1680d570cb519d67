using System.Runtime.InteropServices;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Kernels;

/// <summary>Every quantized kernel: fast path equals its scalar reference, MatVec is within the documented
/// activation-quantization bound of an exact float product with the dequantized weights, MatMul equals MatVec per token.</summary>
public unsafe class QuantizedKernelTests
{
    private static readonly (int Rows, int Cols)[] Shapes = [(1, 1), (3, 7), (5, 31), (19, 64), (6, 172), (13, 256), (3, 4097), (21, 96)];

    private static float[] Activations(int tokens, int cols, int seed) => LinearContractTests.Activations(tokens, cols, seed);

    /// <summary>Exact y = W'·x in double, and the bound on |y − kernel| (activation int8 error for the integer kernels plus float rounding).</summary>
    private static (double[] Y, double[] Bound) Reference(PackedLinear w, float[] x)
    {
        int rows = w.Rows, cols = w.Cols;
        bool intActivations = w.Spec.Kind is not (QuantSchemeKind.Nf4 or QuantSchemeKind.Fp4);
        float[] row = new float[cols];
        double[] y = new double[rows], bound = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            w.DequantizeRow(r, row);
            double sum = 0, magnitude = 0, activationError = 0;
            for (int c = 0; c < cols; c++)
            {
                sum += (double)row[c] * x[c];
                magnitude += Math.Abs((double)row[c] * x[c]);
            }

            if (intActivations)
            {
                for (int b = 0; b * 32 < cols; b++)
                {
                    double amax = 0, wsum = 0;
                    for (int c = b * 32; c < Math.Min(cols, (b * 32) + 32); c++)
                    {
                        amax = Math.Max(amax, Math.Abs(x[c]));
                        wsum += Math.Abs(row[c]);
                    }

                    activationError += amax / 254 * wsum;
                }
            }

            y[r] = sum;
            bound[r] = (activationError * 1.0001) + (2e-5 * magnitude) + 1e-6;
        }

        return (y, bound);
    }

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void MatVec_WithinActivationBoundOfExactProduct(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach ((int rows, int cols) in Shapes)
        {
            PackedLinear w = QuantizedLinear.Quantize($"w{rows}x{cols}", QuantTestData.Random(rows, cols, cols + rows), rows, cols, spec);
            float[] x = Activations(1, cols, cols);
            float[] y = new float[rows];
            w.MatVec(x, y);
            (double[] exact, double[] bound) = Reference(w, x);
            for (int r = 0; r < rows; r++)
            {
                Assert.True(Math.Abs(y[r] - exact[r]) <= bound[r], $"{spec} {rows}x{cols} row {r}: {y[r]} vs {exact[r]}, bound {bound[r]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void MatMul_EqualsMatVecPerToken(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach ((int rows, int cols) in ((int, int)[])[(7, 172), (37, 256), (300, 300)])
        {
            PackedLinear w = QuantizedLinear.Quantize("w", QuantTestData.Random(rows, cols, 77), rows, cols, spec);
            int tokens = 5;
            float[] x = Activations(tokens, cols, 8);
            float[] y = new float[tokens * rows];
            w.MatMul(x, tokens, y);
            float[] one = new float[rows];
            for (int t = 0; t < tokens; t++)
            {
                w.MatVec(x.AsSpan(t * cols, cols), one);
                if (spec.Kind is QuantSchemeKind.Int4 or QuantSchemeKind.Ternary or QuantSchemeKind.Int8 or QuantSchemeKind.Nf4 or QuantSchemeKind.Fp4)
                {
                    // int8, int4 and ternary prefill run the interleaved 8-row GEMM (and int4/NF4/FP4 decode single-row kernels), whose float sums run in another
                    // order than the prefill tile's: equal up to rounding, not bit for bit.
                    float scale = 1e-5f * (1 + x.AsSpan(t * cols, cols).ToArray().Sum(Math.Abs));
                    for (int r = 0; r < rows; r++)
                    {
                        Assert.True(Math.Abs(one[r] - y[(t * rows) + r]) <= scale, $"{spec} token {t} row {r}: MatVec {one[r]} vs MatMul {y[(t * rows) + r]}");
                    }
                }
                else
                {
                    Assert.Equal(one, y.AsSpan(t * rows, rows).ToArray());
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void DequantizeRow_MatchesScheme(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        float[] w = QuantTestData.Random(9, 172, 3);
        QuantizedTensor t = QuantScheme.Quantize(spec, "w", w, 9, 172);
        PackedLinear linear = QuantizedLinear.Create(t);
        float[] a = new float[172], b = new float[172];
        for (int r = 0; r < 9; r++)
        {
            linear.DequantizeRow(r, a);
            QuantScheme.For(spec).DequantizeRow(t, r, b);
            Assert.Equal(b, a);
        }

        Assert.Equal(t.ByteLength, linear.BytesInMemory);
        Assert.Equal(spec.Name, linear.Scheme);
    }

    [Fact]
    public void ActivationQuantizer_PadsAndBounds()
    {
        float[] x = Activations(1, 45, 1);
        fixed (float* px = x)
        {
            ActivationQuantizer.Q8 q = ActivationQuantizer.Quantize(px, 1, 45);
            Assert.Equal(2, q.Chunks);
            for (int c = 45; c < 64; c++)
            {
                Assert.Equal(0, q.Q[c]);
            }

            for (int b = 0; b < 2; b++)
            {
                int sum = 0;
                float amax = 0;
                for (int c = b * 32; c < Math.Min(45, (b * 32) + 32); c++)
                {
                    amax = Math.Max(amax, Math.Abs(x[c]));
                    sum += q.Q[c];
                    Assert.True(Math.Abs(x[c] - (q.D[b] * q.Q[c])) <= (q.D[b] / 2 * 1.0001) + 1e-7);
                }

                Assert.Equal(sum, q.Sums[b]);
                Assert.Equal(amax / 127f, q.D[b]);
            }
        }
    }

    /// <summary>Fast dot (AVX2 where present) against its scalar reference for every row of every shape; lengths 0..257 through cols.</summary>
    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void FastKernel_EqualsScalarReference(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        var lengths = Enumerable.Range(1, 257).Where(n => n < 70 || n % 7 == 0 || n > 250).Concat([4097]).ToArray();
        foreach (int cols in lengths)
        {
            int rows = cols > 1000 ? 2 : 3;
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, cols), rows, cols);
            float[] x = Activations(1, cols, cols + 1);
            for (int r = 0; r < rows; r++)
            {
                (float fast, float reference, float magnitude) = DotBoth(t, r, x);
                Assert.True(Math.Abs(fast - reference) <= (1e-5f * magnitude) + 1e-6f, $"{spec} cols {cols} row {r}: fast {fast} vs reference {reference}");
            }
        }
    }

    private static (float Fast, float Reference, float Magnitude) DotBoth(QuantizedTensor t, int r, float[] x)
    {
        int cols = t.Cols;
        float magnitude = 0;
        float[] row = new float[cols];
        QuantScheme.For(t.Spec).DequantizeRow(t, r, row);
        for (int c = 0; c < cols; c++)
        {
            magnitude += Math.Abs(row[c] * x[c]);
        }

        int chunks = PackLayout.Chunks(cols);
        fixed (float* px = x)
        fixed (byte* q = t["qweight"].Data)
        {
            if (t.Spec.Kind is QuantSchemeKind.Nf4 or QuantSchemeKind.Fp4)
            {
                float* xp = ActivationQuantizer.PadFloats(px, 1, cols);
                float[] absmax = new float[FourBitFloatScheme.Blocks(cols)];
                ((FourBitFloatScheme)QuantScheme.For(t.Spec)).RowAbsmax(t, r, absmax);
                float[] code = FourBitFloatScheme.CodeBook(t.Spec.Kind).ToArray();
                fixed (float* pa = absmax, pc = code)
                {
                    byte* rowQ = q + (r * PackLayout.RowBytes4(cols));
                    return (FourBitFloatKernels.Dot(rowQ, pa, chunks, xp, pc), FourBitFloatKernels.DotReference(rowQ, pa, chunks, xp, pc), magnitude);
                }
            }

            ActivationQuantizer.Q8 a = ActivationQuantizer.Quantize(px, 1, cols);
            switch (t.Spec.Kind)
            {
                case QuantSchemeKind.Int8:
                    {
                        sbyte* w = (sbyte*)q + (r * cols);
                        float s = MemoryMarshal.Cast<byte, float>(t["scales"].Data)[r];
                        return (s * Int8Kernels.Dot(w, cols, a.Q, a.D), s * Int8Kernels.DotReference(w, cols, a.Q, a.D), magnitude);
                    }

                case QuantSchemeKind.Int4:
                    {
                        int groups = Int4Scheme.Groups(cols, t.Spec.GroupSize);
                        byte[] zeros = t.Spec.Symmetric ? [] : t["zeros"].Data;
                        fixed (byte* ps = t["scales"].Data)
                        fixed (byte* pz = zeros)
                        {
                            byte* rowQ = q + (r * PackLayout.RowBytes4(cols));
                            Half* s = (Half*)ps + (r * groups);
                            byte* z = t.Spec.Symmetric ? null : pz + (r * groups);
                            int gc = t.Spec.GroupSize / 32;
                            return (Int4Kernels.Dot(rowQ, s, z, gc, chunks, a.Q, a.D, a.Sums), Int4Kernels.DotReference(rowQ, s, z, gc, chunks, a.Q, a.D, a.Sums), magnitude);
                        }
                    }

                default:
                    {
                        int span = TernaryScheme.ScaleSpan(t.Spec, cols);
                        int perRow = (cols + span - 1) / span;
                        fixed (byte* ps = t["scales"].Data)
                        {
                            float* s = t.Spec.Granularity == TernaryGranularity.PerTensor ? (float*)ps : (float*)ps + (r * perRow);
                            int gc = t.Spec.Granularity == TernaryGranularity.PerGroup ? t.Spec.GroupSize / 32 : chunks;
                            byte* rowQ = q + (r * PackLayout.RowBytes2(cols));
                            return (TernaryKernels.Dot(rowQ, s, gc, chunks, a.Q, a.D, a.Sums), TernaryKernels.DotReference(rowQ, s, gc, chunks, a.Q, a.D, a.Sums), magnitude);
                        }
                    }
            }
        }
    }

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void RealMatrices_MatVecWithinBound(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach ((string name, int rows, int cols, float[] values) in QuantTestData.RealMatrices())
        {
            PackedLinear w = QuantizedLinear.Quantize(name, values, rows, cols, spec);
            float[] x = Activations(1, cols, rows);
            float[] y = new float[rows];
            w.MatVec(x, y);
            (double[] exact, double[] bound) = Reference(w, x);
            for (int r = 0; r < rows; r++)
            {
                Assert.True(Math.Abs(y[r] - exact[r]) <= bound[r], $"{spec} {name} row {r}: {y[r]} vs {exact[r]}, bound {bound[r]}");
            }
        }
    }

    /// <summary>Group sizes that are multiples of 32 but not powers of two (g96, g160, g224) are valid int4 specs; every
    /// path (decode, batched decode, prefill tiles) must read each chunk's own group.</summary>
    [Theory]
    [InlineData("int4-g96-asym")]
    [InlineData("int4-g160-sym")]
    [InlineData("int4-g224-asym")]
    public void Int4GroupsOfOddChunkCounts_EveryPathWithinBound(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        const int rows = 21, cols = 1344; // 42 chunks: 14 groups of 3, 8.4 of 5, 6 of 7
        PackedLinear w = QuantizedLinear.Quantize("w", QuantTestData.Random(rows, cols, 5), rows, cols, spec);
        foreach (int tokens in new[] { 1, 2, 3, 4, 5, 9, 20 })
        {
            float[] x = Activations(tokens, cols, 11 + tokens);
            float[] y = new float[tokens * rows];
            w.MatMul(x, tokens, y);
            for (int t = 0; t < tokens; t++)
            {
                (double[] exact, double[] bound) = Reference(w, x[(t * cols)..((t + 1) * cols)]);
                for (int r = 0; r < rows; r++)
                {
                    Assert.True(Math.Abs(y[(t * rows) + r] - exact[r]) <= bound[r], $"{spec} {tokens} tokens, token {t} row {r}: {y[(t * rows) + r]} vs {exact[r]}, bound {bound[r]}");
                }
            }
        }
    }

    [Fact]
    public void WrongSizes_Throw()
    {
        PackedLinear w = QuantizedLinear.Quantize("w", QuantTestData.Random(4, 40, 1), 4, 40, QuantSpec.Int8());
        Assert.Throws<ArgumentException>(() => w.MatVec(new float[39], new float[4]));
        Assert.Throws<ArgumentException>(() => w.MatMul(new float[80], 2, new float[7]));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.DequantizeRow(4, new float[40]));
    }
}

/// <summary>Steady-state calls allocate nothing (the benchmarks' MemoryDiagnoser shows the same for 4096×4096).</summary>
public class QuantizedKernelAllocationTests
{
    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void MatVecAndMatMul_AllocateNothing(string specName)
    {
        int rows = 64, cols = 300, tokens = 4;
        PackedLinear w = QuantizedLinear.Quantize("w", QuantTestData.Random(rows, cols, 1), rows, cols, QuantSpec.ParseName(specName));
        float[] x = QuantTestData.Random(tokens, cols, 2), y = new float[tokens * rows], row = new float[cols];
        w.MatVec(x.AsSpan(0, cols), y);
        w.MatMul(x, tokens, y);
        w.DequantizeRow(3, row);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            w.MatVec(x.AsSpan(0, cols), y);
            w.MatMul(x, tokens, y);
            w.DequantizeRow(3, row);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
