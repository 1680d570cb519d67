using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;

namespace QuantSharp.Tests.Kernels;

/// <summary>The vector lattice kernels against the scalar reference (<see cref="GgufDequantize"/>, then a plain dot
/// product in double) on random blocks of every lattice type: decoding is bit-identical, the dot equal to float
/// rounding.</summary>
public unsafe class LatticeKernelTests
{
    public static TheoryData<GgmlType> Types() => [GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ3_XXS, GgmlType.IQ3_S];

    private static byte[] RandomBlocks(GgmlType type, int blocks, int seed)
    {
        var rng = new Random(seed);
        var bytes = new byte[blocks * GgmlTypeInfo.TypeSize(type)];
        rng.NextBytes(bytes);
        for (int b = 0; b < blocks; b++)
        {
            // A finite block scale (the first two bytes of every lattice block): random in ±[2⁻¹⁰, 2⁻⁴].
            BitConverter.TryWriteBytes(bytes.AsSpan(b * GgmlTypeInfo.TypeSize(type), 2), (Half)((rng.NextDouble() - 0.5) * 0.1));
        }

        return bytes;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void DecodeIsBitIdenticalAndDotMatchesTheReference(GgmlType type)
    {
        const int cols = 256 * 6;
        byte[] row = RandomBlocks(type, 6, (int)type);
        var reference = new float[cols];
        GgufDequantize.Row(type, row, reference);
        var decoded = new float[cols];
        float[] x = Quantization.QuantTestData.Random(1, cols, 3);
        float dot;
        fixed (byte* q = row)
        fixed (float* y = decoded, px = x)
        {
            LatticeKernels.Dequantize(type, q, y, cols);
            dot = LatticeKernels.Dot(type, q, px, cols);
        }

        Assert.Equal(reference, decoded);
        double expected = 0, magnitude = 0;
        for (int i = 0; i < cols; i++)
        {
            expected += (double)reference[i] * x[i];
            magnitude += Math.Abs((double)reference[i] * x[i]);
        }

        Assert.True(Math.Abs(dot - expected) <= 1e-6 * magnitude + 1e-30, $"{type}: kernel {dot:R}, reference {expected:R}");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void GgufWeightsOfLatticeTypesMultiplyLikeTheirRows(GgmlType type)
    {
        const int rows = 9, cols = 512;
        byte[] data = RandomBlocks(type, rows * 2, 40 + (int)type);
        fixed (byte* p = data)
        {
            var linear = new GgufDequantLinear("w", "test", type, [cols, rows], p);
            float[] x = Quantization.QuantTestData.Random(1, cols, 4), y = new float[rows], row = new float[cols];
            linear.MatVec(x, y);
            x = Quantization.LatticeSchemeTests.RoundedLikeTheKernel(type, x);
            for (int r = 0; r < rows; r++)
            {
                linear.DequantizeRow(r, row);
                double expected = 0, magnitude = 0;
                for (int c = 0; c < cols; c++)
                {
                    expected += (double)row[c] * x[c];
                    magnitude += Math.Abs((double)row[c] * x[c]);
                }

                Assert.True(Math.Abs(y[r] - expected) <= 1e-6 * magnitude + 1e-30, $"{type} row {r}: {y[r]:R} vs {expected:R}");
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Types))]
    public void Int8KernelMatchesItsScalarReference(GgmlType type)
    {
        Skip.IfNot(KernelIsa.UseAvx2, "needs AVX2 + FMA (int8 lattice kernel)");
        foreach (int blocks in (int[])[1, 3, 8])
        {
            int cols = 256 * blocks;
            byte[] row = RandomBlocks(type, blocks, (int)type + blocks);
            float[] x = Quantization.QuantTestData.Random(1, cols, blocks);
            fixed (byte* w = row)
            fixed (float* px = x)
            {
                ActivationQuantizer.Q8 a = ActivationQuantizer.Quantize(px, 1, cols);
                float got = LatticeQ8Kernels.Dot(type, w, cols, a.Q, a.D);
                float expected = LatticeQ8Kernels.DotReference(type, w, cols, a.Q, a.D);
                float[] weights = new float[cols];
                GgufDequantize.Row(type, row, weights);
                double magnitude = 0;
                for (int i = 0; i < cols; i++)
                {
                    magnitude += Math.Abs((double)weights[i] * a.Q[i] * a.D[i / 32]);
                }

                Assert.True(Math.Abs(got - expected) <= (1e-5 * magnitude) + 1e-30, $"{type} {blocks} blocks: kernel {got:R}, reference {expected:R}");
            }
        }
    }
}
