using QuantSharp.Kernels;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

/// <summary>int3/int2 group schemes: bit layout, error bound, generic kernel against its scalar reference.</summary>
public sealed class IntGroupSchemeTests
{
    [Fact]
    public void BitStream_PackingIsExact()
    {
        byte[] row = new byte[IntGroupScheme.RowBytes(3, 8)];
        IntGroupScheme.PackRow(3, [1, 2, 3, 4, 5, 6, 7, 0], row, 0);
        Assert.Equal(12, row.Length);
        Assert.Equal(new byte[] { 0xD1, 0x58, 0x1F, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, row);
        byte[] row2 = new byte[IntGroupScheme.RowBytes(2, 8)];
        IntGroupScheme.PackRow(2, [1, 2, 3, 0, 3, 2, 1, 0], row2, 0);
        Assert.Equal(new byte[] { 0x39, 0x1B, 0, 0, 0, 0, 0, 0 }, row2);
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(new[] { 1, 2, 3, 4, 5, 6, 7, 0 }[i], IntGroupScheme.Code(3, row, i));
        }
    }

    [Theory]
    [InlineData("int3-g32-asym")]
    [InlineData("int3-g128-sym")]
    [InlineData("int2-g64-asym")]
    [InlineData("int2-g32-sym")]
    public void Rtn_ErrorWithinHalfStep_AndKernelMatchesReference(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        Assert.Equal(specName, spec.Name);
        foreach (int cols in new[] { 1, 31, 32, 33, 100, 257 })
        {
            int rows = 7;
            float[] w = QuantTestData.Random(rows, cols, cols);
            PackedLinear q = QuantizedLinear.Quantize("w", w, rows, cols, spec);
            Assert.IsType<IntGroupLinear>(q);
            float[] d = GptqTests.Dequantize(q);
            int groups = (cols + spec.GroupSize - 1) / spec.GroupSize;
            for (int r = 0; r < rows; r++)
            {
                for (int g = 0; g < groups; g++)
                {
                    int start = g * spec.GroupSize, n = Math.Min(spec.GroupSize, cols - start);
                    GroupGrid grid = GroupGrid.Fit(w.AsSpan((r * cols) + start, n), spec.Bits, spec.Symmetric);
                    for (int i = start; i < start + n; i++)
                    {
                        float lo = grid.Value(0), hi = grid.Value(grid.MaxCode);
                        float clamped = Math.Clamp(w[(r * cols) + i], lo, hi);
                        Assert.True(Math.Abs(clamped - d[(r * cols) + i]) <= (grid.Scale / 2) + 1e-6f, $"{specName} cols {cols} [{r},{i}]");
                    }
                }
            }

            AssertMatMulMatchesReference(q, rows, cols, 3);
        }

        // Prefill shapes: several 64-row dequantization chunks with a remainder, two 64-token blocks with a remainder.
        float[] big = QuantTestData.Random(150, 96, 5);
        AssertMatMulMatchesReference(QuantizedLinear.Quantize("w", big, 150, 96, spec), 150, 96, 70);
    }

    private static void AssertMatMulMatchesReference(PackedLinear q, int rows, int cols, int tokens)
    {
        float[] x = QuantTestData.Random(tokens, cols, 99);
        float[] fast = new float[tokens * rows], slow = new float[tokens * rows];
        q.MatMul(x, tokens, fast);
        ((IntGroupLinear)q).MultiplyReference(x, tokens, slow);
        for (int i = 0; i < fast.Length; i++)
        {
            Assert.Equal(slow[i], fast[i], 1e-4f);
        }
    }
}
