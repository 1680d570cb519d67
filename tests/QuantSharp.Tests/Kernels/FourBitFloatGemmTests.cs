using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Kernels;

/// <summary>The NF4/FP4 prefill GEMM (<see cref="FourBitFloatGemm"/>), AVX-512 and AVX2 each where the CPU has them:
/// the transposed dequantized tile bit for bit against the scheme's own dequantization, the tile product bit for bit
/// against its scalar reference (same k order, FMA per k) and within float rounding of the decode reference
/// <see cref="FourBitFloatKernels.DotReference"/> and of exact double sums, over odd widths and token counts.</summary>
public unsafe class FourBitFloatGemmTests
{
    private static readonly int[] Widths = [1, 31, 33, 64, 65, 172, 255, 257, 300, 513, 1000];

    private static readonly int[] TokenCounts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13];

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (string spec in (string[])["nf4", "nf4-dq", "fp4", "fp4-dq"])
        {
            data.Add(spec, FourBitFloatGemm.RowsAvx512);
            data.Add(spec, FourBitFloatGemm.RowsAvx2);
        }

        return data;
    }

    private static bool Supported(int tileRows)
        => tileRows == FourBitFloatGemm.RowsAvx512 ? Avx512F.IsSupported : Avx2.IsSupported && Fma.IsSupported;

    private static float[] Activations(int tokens, int cols, int padded, int seed)
    {
        var rng = new Random(seed);
        float[] x = new float[tokens * padded];
        for (int t = 0; t < tokens; t++)
        {
            for (int k = 0; k < cols; k++)
            {
                x[(t * padded) + k] = (float)((rng.NextDouble() * 2) - 1) * (rng.Next(50) == 0 ? 20f : 1f);
            }
        }

        return x;
    }

    /// <summary>A quantized tile: codes, row-major absmax (double quantization decoded) and the code book.</summary>
    private static (QuantizedTensor Tensor, float[] Absmax, float[] Code) Tile(string specName, int rows, int cols, int seed)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        var scheme = (FourBitFloatScheme)QuantScheme.For(spec);
        QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, seed), rows, cols);
        int blocks = FourBitFloatScheme.Blocks(cols);
        float[] absmax = new float[rows * blocks];
        for (int r = 0; r < rows; r++)
        {
            scheme.RowAbsmax(t, r, absmax.AsSpan(r * blocks, blocks));
        }

        return (t, absmax, FourBitFloatScheme.CodeBook(spec.Kind).ToArray());
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Dequantize_EqualsSchemeDequantizeRowBitForBit(string specName, int tileRows)
    {
        Skip.IfNot(Supported(tileRows), $"needs {(tileRows == FourBitFloatGemm.RowsAvx512 ? "AVX-512F" : "AVX2 + FMA")} for {tileRows}-row tiles");

        var scheme = QuantScheme.For(QuantSpec.ParseName(specName));
        foreach (int cols in Widths)
        {
            (QuantizedTensor t, float[] absmax, float[] code) = Tile(specName, tileRows, cols, cols + 1);
            int blocks = FourBitFloatScheme.Blocks(cols), chunks = PackLayout.Chunks(cols), rowBytes = PackLayout.RowBytes4(cols);
            float[] absT = new float[tileRows * blocks];
            float[] simd = new float[chunks * 32 * tileRows], reference = new float[simd.Length];
            // A k range that starts past chunk 0, as the k-blocked GEMM asks for.
            int c0 = chunks > 2 ? 1 : 0;
            fixed (byte* q = t["qweight"].Data)
            fixed (float* pa = absmax, pt = absT, pc = code, ps = simd, pr = reference)
            {
                FourBitFloatGemm.TransposeAbsmax(pa, blocks, tileRows, pt);
                if (tileRows == FourBitFloatGemm.RowsAvx512)
                {
                    FourBitFloatGemm.DequantizeAvx512(q, rowBytes, pt, c0, chunks, pc, ps);
                }
                else
                {
                    FourBitFloatGemm.DequantizeAvx2(q, rowBytes, pt, c0, chunks, pc, ps);
                }

                FourBitFloatGemm.DequantizeReference(q, rowBytes, tileRows, pt, c0, chunks, pc, pr);
            }

            int values = (chunks - c0) * 32 * tileRows;
            Assert.Equal(reference.AsSpan(0, values).ToArray(), simd.AsSpan(0, values).ToArray());
            float[] row = new float[cols];
            for (int r = 0; r < tileRows; r++)
            {
                scheme.DequantizeRow(t, r, row);
                for (int k = c0 * 32; k < cols; k++)
                {
                    Assert.Equal(row[k], reference[((k - (c0 * 32)) * tileRows) + r]);
                }
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void MultiplyTile_EqualsReference(string specName, int tileRows)
    {
        Skip.IfNot(Supported(tileRows), $"needs {(tileRows == FourBitFloatGemm.RowsAvx512 ? "AVX-512F" : "AVX2 + FMA")} for {tileRows}-row tiles");

        var scheme = QuantScheme.For(QuantSpec.ParseName(specName));
        foreach (int cols in Widths)
        {
            (QuantizedTensor t, float[] absmax, float[] code) = Tile(specName, tileRows, cols, cols + 7);
            int blocks = FourBitFloatScheme.Blocks(cols), chunks = PackLayout.Chunks(cols), rowBytes = PackLayout.RowBytes4(cols), padded = chunks * 32;
            float[][] rows = Enumerable.Range(0, tileRows).Select(r =>
            {
                float[] row = new float[cols];
                scheme.DequantizeRow(t, r, row);
                return row;
            }).ToArray();
            foreach (int tokens in TokenCounts)
            {
                float[] x = Activations(tokens, cols, padded, cols + tokens);
                // y rows wider than the tile, as in a layer: the tile writes its own 3 … 3 + tileRows columns only.
                int yStride = tileRows + 5;
                float[] y = new float[tokens * yStride], reference = new float[y.Length];
                Array.Fill(y, float.NaN);
                Array.Fill(reference, float.NaN);
                float* work = (float*)NativeMemory.AlignedAlloc((nuint)(FourBitFloatGemm.WorkFloats(tileRows, blocks) * sizeof(float)), 64);
                try
                {
                    fixed (byte* q = t["qweight"].Data)
                    fixed (float* pa = absmax, pc = code, px = x, py = y, pr = reference)
                    {
                        FourBitFloatGemm.MultiplyTile(tileRows, q, rowBytes, pa, blocks, chunks, pc, px, padded, tokens, py + 3, yStride, work);
                        FourBitFloatGemm.MultiplyTileReference(tileRows, q, rowBytes, pa, blocks, chunks, pc, px, padded, tokens, pr + 3, yStride);
                        Assert.Equal(reference, y);
                        for (int k = 0; k < tokens; k++)
                        {
                            for (int r = 0; r < tileRows; r++)
                            {
                                float decode = FourBitFloatKernels.DotReference(q + (r * rowBytes), pa + (r * blocks), chunks, px + (k * padded), pc);
                                double exact = 0, magnitude = 0;
                                for (int c = 0; c < cols; c++)
                                {
                                    exact += (double)rows[r][c] * x[(k * padded) + c];
                                    magnitude += Math.Abs((double)rows[r][c] * x[(k * padded) + c]);
                                }

                                float value = y[(k * yStride) + 3 + r];
                                double tolerance = (1e-5 * magnitude) + 1e-7;
                                Assert.True(Math.Abs(value - exact) <= tolerance, $"{specName} cols {cols} tokens {tokens} token {k} row {r}: GEMM {value} vs exact {exact}");
                                Assert.True(Math.Abs(value - decode) <= tolerance, $"{specName} cols {cols} tokens {tokens} token {k} row {r}: GEMM {value} vs decode reference {decode}");
                            }
                        }
                    }
                }
                finally
                {
                    NativeMemory.AlignedFree(work);
                }
            }
        }
    }

    [Theory]
    [InlineData("nf4")]
    [InlineData("nf4-dq")]
    [InlineData("fp4")]
    public void MatMul_MatchesDecodePerToken(string specName)
    {
        // 75 rows: whole GEMM tiles (32 or 16 rows) and a tail of 4-row and single-row decode kernels.
        const int rows = 75, cols = 333;
        PackedLinear w = QuantizedLinear.Quantize("w", QuantTestData.Random(rows, cols, 5), rows, cols, QuantSpec.ParseName(specName));
        // 2–5 tokens run the lookup kernels, from 8 (AVX-512) or 12 (AVX2) tokens on the GEMM.
        foreach (int tokens in (int[])[2, 3, 4, 5, 8, 9, 12, 13, 17])
        {
            float[] x = new float[tokens * cols];
            var rng = new Random(tokens);
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = (float)((rng.NextDouble() * 2) - 1);
            }

            float[] y = new float[tokens * rows], one = new float[rows];
            w.MatMul(x, tokens, y);
            for (int t = 0; t < tokens; t++)
            {
                w.MatVec(x.AsSpan(t * cols, cols), one);
                float tolerance = 1e-5f * (1 + x.AsSpan(t * cols, cols).ToArray().Sum(Math.Abs));
                for (int r = 0; r < rows; r++)
                {
                    Assert.True(Math.Abs(one[r] - y[(t * rows) + r]) <= tolerance, $"{specName} tokens {tokens} token {t} row {r}: MatVec {one[r]} vs MatMul {y[(t * rows) + r]}");
                }
            }
        }
    }
}
