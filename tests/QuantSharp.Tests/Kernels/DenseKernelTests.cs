using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Kernels;

public class DenseKernelTests
{
    private static float[] RandomFloats(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    private static TensorView Weight(DType dtype, int rows, int cols, int seed)
    {
        float[] w = RandomFloats(rows * cols, seed);
        byte[] bytes = dtype switch
        {
            DType.F32 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(w.AsSpan()).ToArray(),
            DType.F16 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(w.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
            _ => System.Runtime.InteropServices.MemoryMarshal.AsBytes(w.Select(BFloat16.FromSingle).ToArray().AsSpan()).ToArray(),
        };
        return TensorView.FromBytes("w", dtype, [rows, cols], bytes);
    }

    private static float ReferenceRow(TensorView w, int row, ReadOnlySpan<float> x)
    {
        float[] r = new float[w.Cols];
        w.ReadFloats(row * w.Cols, r);
        return DenseKernels.DotReference(r, x);
    }

    public static TheoryData<DType, int, int> Shapes()
    {
        var data = new TheoryData<DType, int, int>();
        foreach (DType d in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            foreach ((int rows, int cols) in new[] { (1, 1), (3, 7), (37, 172), (9, 4097), (64, 256), (5, 8) })
            {
                data.Add(d, rows, cols);
            }
        }

        return data;
    }

    private static void AssertClose(float expected, float actual, float scale)
        => Assert.True(Math.Abs(expected - actual) <= 1e-5f * Math.Max(1f, scale), $"expected {expected}, got {actual}");

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatVecAndMatMulEqualScalarReference(DType dtype, int rows, int cols)
    {
        TensorView view = Weight(dtype, rows, cols, rows * 31 + cols);
        var linear = new DenseLinear(view);
        // 70 tokens: two token blocks, 4×4 tiles, a 2-token pair and a single token at the end of a block.
        foreach (int tokens in new[] { 2, 5, 70 })
        {
            Check(view, linear, rows, cols, tokens);
        }
    }

    private static void Check(TensorView view, DenseLinear linear, int rows, int cols, int tokens)
    {
        float[] x = RandomFloats(tokens * cols, 7);
        float[] y = new float[tokens * rows];
        linear.MatMul(x, tokens, y);
        float[] yv = new float[rows];
        for (int t = 0; t < tokens; t++)
        {
            linear.MatVec(x.AsSpan(t * cols, cols), yv);
            for (int r = 0; r < rows; r++)
            {
                float expected = ReferenceRow(view, r, x.AsSpan(t * cols, cols));
                // Relative to the row's absolute sum (the scale of rounding error in a dot product).
                float scale = MathF.Sqrt(cols);
                AssertClose(expected, y[t * rows + r], scale);
                AssertClose(expected, yv[r], scale);
            }
        }
    }

    [Fact]
    public void WorkerPoolCoversEveryIndexOnceWithAlignedSlices()
    {
        foreach (int count in new[] { 1, 7, 16, 100, 4097 })
        {
            foreach (int slices in new[] { 1, 2, 3, 8 })
            {
                int covered = 0;
                int previousEnd = 0;
                for (int i = 0; i < slices; i++)
                {
                    (int s, int e) = WorkerPool.SliceBounds(count, slices, 4, i);
                    Assert.Equal(previousEnd, s);
                    Assert.True(s % 4 == 0 || s == count);
                    covered += e - s;
                    previousEnd = e;
                }

                Assert.Equal(count, covered);
            }
        }
    }

    [Fact]
    public void RmsNormAndRopeMatchHandComputedValues()
    {
        float[] x = [1, 2, 3, 4];
        float[] y = new float[4];
        RmsNorm.Apply(x, [1, 1, 2, 0.5f], 0f, y);
        float inv = 1f / MathF.Sqrt(7.5f);
        Assert.Equal(new[] { inv, 2 * inv, 6 * inv, 2 * inv }, y);

        // rotate-half, head dim 4, position 1: pairs (0,2) and (1,3) with angles 1 and 1/100.
        var rope = new RotaryEmbedding(4, 4, 10000, 4, RopeStyle.RotateHalf);
        float[] v = [1, 0, 0, 1];
        rope.Apply(v, 1, 1);
        Assert.Equal(MathF.Cos(1), v[0], 6);
        Assert.Equal(-MathF.Sin(0.01f), v[1], 6);
        Assert.Equal(MathF.Sin(1), v[2], 6);
        Assert.Equal(MathF.Cos(0.01f), v[3], 6);
    }
}
