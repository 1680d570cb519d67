using QuantSharp.Kernels;
using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// Batched decode (a few tokens, one per sequence) runs the decode kernels with the weight read once per step: each
/// token's outputs must equal its own MatVec bit for bit, so a sequence decodes the same alone or in a batch.
/// </summary>
public sealed class SmallBatchTests
{
    public static TheoryData<string> Cases() => ["dense-f32", "dense-f16", "dense-bf16", "int8"];

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void EachTokenEqualsItsMatVec(string name)
    {
        // int8's batched decode kernel runs on AVX2 without AVX-VNNI (CI's AVX2 pass); with AVX-VNNI its few tokens take the
        // interleaved GEMM and without AVX2 the dequantized F32 GEMM (both equal up to rounding, in the contract suite).
        Skip.If(name == "int8" && (System.Runtime.Intrinsics.X86.AvxVnni.IsSupported || !(System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported)),
            "int8's batched decode kernel runs on AVX2 machines without AVX-VNNI");
        LinearCase c = LinearCases.Get(name);
        int maxTokens = name == "int8" ? Int8Linear.SmallBatchTokens : DenseLinear.SmallBatchTokens;
        // 4160 columns > F16RowKernels.SingleRowMaxCols: the four-row tiles; 37 and 61 rows leave tails of blocks and tiles.
        foreach ((int rows, int cols) in ((int, int)[])[(37, 512), (61, 4160), (64, 2048)])
        {
            using BuiltLinear built = c.Create(QuantTestData.Random(rows, cols, 5), rows, cols);
            ILinearWeight w = built.Linear;
            for (int tokens = 2; tokens <= maxTokens; tokens++)
            {
                float[] x = LinearContractTests.Activations(tokens, cols, 100 + tokens);
                float[] y = new float[tokens * rows];
                w.MatMul(x, tokens, y);
                float[] one = new float[rows];
                for (int t = 0; t < tokens; t++)
                {
                    w.MatVec(x.AsSpan(t * cols, cols), one);
                    for (int r = 0; r < rows; r++)
                    {
                        Assert.True(one[r] == y[(t * rows) + r], $"{name} {rows}x{cols}, {tokens} tokens, token {t} row {r}: MatVec {one[r]} vs MatMul {y[(t * rows) + r]}");
                    }
                }
            }
        }
    }

    [Fact]
    public void F16WithInfinitiesTakesTheExactConversionAndStillEqualsMatVec()
    {
        const int rows = 21, cols = 96;
        float[] values = QuantTestData.Random(rows, cols, 9);
        values[(3 * cols) + 7] = float.PositiveInfinity;
        using BuiltLinear built = LinearCases.Get("dense-f16").Create(values, rows, cols);
        float[] x = LinearContractTests.Activations(3, cols, 4);
        float[] y = new float[3 * rows];
        built.Linear.MatMul(x, 3, y);
        float[] one = new float[rows];
        for (int t = 0; t < 3; t++)
        {
            built.Linear.MatVec(x.AsSpan(t * cols, cols), one);
            Assert.Equal(one, y.AsSpan(t * rows, rows).ToArray());
        }

        Assert.True(float.IsInfinity(y[3]) || float.IsNaN(y[3]), $"row 3 holds +inf, got {y[3]}");
    }
}
