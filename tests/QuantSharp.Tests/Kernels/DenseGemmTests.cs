using QuantSharp.Kernels;
using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Kernels;

/// <summary>The broadcast-weight prefill GEMM (<see cref="DenseGemm"/>) against its scalar reference: the same FMA chain
/// per output, so equal bit for bit, on the path this machine runs (AVX-512, or AVX2 in CI's AVX2 pass).</summary>
public sealed unsafe class DenseGemmTests
{
    [SkippableTheory]
    [InlineData(1, 1, 2)]
    [InlineData(12, 64, 32)]
    [InlineData(13, 33, 5)]
    [InlineData(37, 200, 33)]
    [InlineData(6, 17, 16)]
    [InlineData(50, 2048, 70)]
    public void MultiplyEqualsReferenceBitForBit(int rows, int cols, int tokens)
    {
        Skip.IfNot(DenseGemm.IsSupported, "DenseGemm needs AVX2 and FMA");
        float[] w = QuantTestData.Random(rows, cols, rows + cols);
        float[] x = LinearContractTests.Activations(tokens, cols, tokens);
        float[] xT = new float[DenseGemm.TransposedFloats(tokens, cols)];
        float[] y = new float[tokens * (rows + 3)];
        float[] expected = new float[tokens * (rows + 3)];
        fixed (float* pw = w, px = x, pxt = xT, py = y, pe = expected)
        {
            DenseGemm.TransposeTokens(px, tokens, cols, pxt);
            DenseGemm.Multiply(pw, rows, cols, pxt, tokens, py, rows + 3);
            DenseGemm.MultiplyReference(pw, rows, cols, px, tokens, pe, rows + 3);
        }

        for (int i = 0; i < y.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(y[i]), $"{rows}x{cols}, {tokens} tokens, index {i}: {expected[i]} vs {y[i]}");
        }
    }

    [Fact]
    public void ReferenceMatchesDoublePrecisionProduct()
    {
        const int rows = 5, cols = 300, tokens = 3;
        float[] w = QuantTestData.Random(rows, cols, 3);
        float[] x = LinearContractTests.Activations(tokens, cols, 8);
        float[] y = new float[tokens * rows];
        fixed (float* pw = w, px = x, py = y)
        {
            DenseGemm.MultiplyReference(pw, rows, cols, px, tokens, py, rows);
        }

        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < rows; r++)
            {
                double sum = 0, magnitude = 0;
                for (int k = 0; k < cols; k++)
                {
                    sum += (double)w[(r * cols) + k] * x[(t * cols) + k];
                    magnitude += Math.Abs((double)w[(r * cols) + k] * x[(t * cols) + k]);
                }

                Assert.True(Math.Abs(sum - y[(t * rows) + r]) <= 1e-6 * magnitude + 1e-7, $"token {t} row {r}: {sum} vs {y[(t * rows) + r]}");
            }
        }
    }
}
