using System.Runtime.Intrinsics.X86;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Kernels;

/// <summary>The NF4/FP4 4-row decode kernels (AVX-512 and AVX2, each where the CPU has it, and the dispatching
/// <c>Dot4</c>) against the per-row scalar reference, with and without double quantization, on widths that are not
/// multiples of 64 (a short last block) or 32 (a padded last chunk).</summary>
public unsafe class FourBitFloatTileKernelTests
{
    private static readonly int[] Widths = [1, 7, 31, 32, 33, 63, 64, 65, 96, 127, 172, 257, 1000, 2048, 4097];

    private delegate void Dot4Kernel(byte* packed, int rowBytes, float* absmax, int blocks, int chunks, float* x, float* code, float* result);

    private static float[] Activations(int cols, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, cols).Select(_ => (float)((rng.NextDouble() * 2) - 1) * (rng.Next(50) == 0 ? 20f : 1f)).ToArray();
    }

    [SkippableTheory]
    [InlineData("nf4")]
    [InlineData("nf4-dq")]
    [InlineData("fp4")]
    [InlineData("fp4-dq")]
    public void Dot4Avx512_EqualsReferencePerRow(string specName)
    {
        Skip.IfNot(Avx512F.IsSupported, "needs AVX-512F");

        Check(specName, FourBitFloatKernels.Dot4Avx512);
    }

    [SkippableTheory]
    [InlineData("nf4")]
    [InlineData("nf4-dq")]
    [InlineData("fp4")]
    [InlineData("fp4-dq")]
    public void Dot4Avx2_EqualsReferencePerRow(string specName)
    {
        Skip.IfNot(Avx2.IsSupported && Fma.IsSupported, "needs AVX2 + FMA");

        Check(specName, FourBitFloatKernels.Dot4Avx2);
    }

    [SkippableTheory]
    [InlineData("nf4")]
    [InlineData("nf4-dq")]
    [InlineData("fp4")]
    [InlineData("fp4-dq")]
    public void DotRowAvx512_EqualsReferencePerRow(string specName)
    {
        Skip.IfNot(Avx512F.IsSupported, "needs AVX-512F");

        Check(specName, RowByRowAvx512);
    }

    private static void RowByRowAvx512(byte* packed, int rowBytes, float* absmax, int blocks, int chunks, float* x, float* code, float* result)
    {
        for (int r = 0; r < 4; r++)
        {
            result[r] = FourBitFloatKernels.DotRowAvx512(packed + (r * rowBytes), absmax + (r * blocks), chunks, x, code);
        }
    }

    [Theory]
    [InlineData("nf4")]
    [InlineData("fp4-dq")]
    public void Dot4Dispatch_EqualsReferencePerRow(string specName) => Check(specName, FourBitFloatKernels.Dot4);

    private static void Check(string specName, Dot4Kernel kernel)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        var scheme = (FourBitFloatScheme)QuantScheme.For(spec);
        float[] code = FourBitFloatScheme.CodeBook(spec.Kind).ToArray();
        foreach (int cols in Widths)
        {
            const int rows = 4;
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, cols + 11), rows, cols);
            int blocks = FourBitFloatScheme.Blocks(cols), chunks = PackLayout.Chunks(cols), rowBytes = PackLayout.RowBytes4(cols);
            float[] absmax = new float[rows * blocks];
            for (int r = 0; r < rows; r++)
            {
                scheme.RowAbsmax(t, r, absmax.AsSpan(r * blocks, blocks));
            }

            float[] x = new float[chunks * 32];
            Activations(cols, cols + 5).CopyTo(x, 0);
            float[] result = new float[4];
            float[] row = new float[cols];
            fixed (byte* q = t["qweight"].Data)
            fixed (float* pa = absmax, px = x, pc = code, pr = result)
            {
                kernel(q, rowBytes, pa, blocks, chunks, px, pc, pr);
                for (int r = 0; r < rows; r++)
                {
                    float reference = FourBitFloatKernels.DotReference(q + (r * rowBytes), pa + (r * blocks), chunks, px, pc);
                    scheme.DequantizeRow(t, r, row);
                    double exact = 0, magnitude = 0;
                    for (int c = 0; c < cols; c++)
                    {
                        exact += (double)row[c] * x[c];
                        magnitude += Math.Abs((double)row[c] * x[c]);
                    }

                    double tolerance = (2e-6 * magnitude) + 1e-7;
                    Assert.True(Math.Abs(result[r] - reference) <= tolerance, $"{spec} cols {cols} row {r}: kernel {result[r]} vs reference {reference}");
                    Assert.True(Math.Abs(reference - exact) <= tolerance, $"{spec} cols {cols} row {r}: reference {reference} vs exact {exact}");
                }
            }
        }
    }

    [SkippableTheory]
    [InlineData("nf4")]
    [InlineData("fp4-dq")]
    public void Dot4Tokens4Avx512_BitIdenticalToDecodePerToken(string specName)
    {
        Skip.IfNot(Avx512F.IsSupported, "needs AVX-512F");

        QuantSpec spec = QuantSpec.ParseName(specName);
        var scheme = (FourBitFloatScheme)QuantScheme.For(spec);
        float[] code = FourBitFloatScheme.CodeBook(spec.Kind).ToArray();
        foreach (int cols in Widths)
        {
            const int rows = 4, tokens = 4;
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, cols + 2), rows, cols);
            int blocks = FourBitFloatScheme.Blocks(cols), chunks = PackLayout.Chunks(cols), rowBytes = PackLayout.RowBytes4(cols), padded = chunks * 32;
            float[] absmax = new float[rows * blocks];
            for (int r = 0; r < rows; r++)
            {
                scheme.RowAbsmax(t, r, absmax.AsSpan(r * blocks, blocks));
            }

            float[] x = new float[tokens * padded];
            for (int k = 0; k < tokens; k++)
            {
                Activations(cols, cols + k).CopyTo(x, k * padded);
            }

            float[] y = new float[tokens * rows];
            float[] one = new float[4];
            fixed (byte* q = t["qweight"].Data)
            fixed (float* pa = absmax, px = x, pc = code, py = y, po = one)
            {
                FourBitFloatKernels.Dot4Tokens4Avx512(q, rowBytes, pa, blocks, chunks, px, padded, pc, py, rows);

                for (int k = 0; k < tokens; k++)
                {
                    FourBitFloatKernels.Dot4Avx512(q, rowBytes, pa, blocks, chunks, px + (k * padded), pc, po);
                    Assert.Equal(one, y.AsSpan(k * rows, rows).ToArray());
                }
            }
        }
    }

    [SkippableTheory]
    [InlineData("nf4-dq")]
    [InlineData("fp4")]
    public void DotTokens4Avx2_BitIdenticalToDecodePerToken(string specName)
    {
        Skip.IfNot(Avx2.IsSupported && Fma.IsSupported, "needs AVX2 + FMA");

        QuantSpec spec = QuantSpec.ParseName(specName);
        var scheme = (FourBitFloatScheme)QuantScheme.For(spec);
        float[] code = FourBitFloatScheme.CodeBook(spec.Kind).ToArray();
        foreach (int cols in Widths)
        {
            const int rows = 4, tokens = 4;
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, cols + 3), rows, cols);
            int blocks = FourBitFloatScheme.Blocks(cols), chunks = PackLayout.Chunks(cols), rowBytes = PackLayout.RowBytes4(cols), padded = chunks * 32;
            float[] absmax = new float[rows * blocks];
            for (int r = 0; r < rows; r++)
            {
                scheme.RowAbsmax(t, r, absmax.AsSpan(r * blocks, blocks));
            }

            float[] x = new float[tokens * padded];
            for (int k = 0; k < tokens; k++)
            {
                Activations(cols, cols + k + 9).CopyTo(x, k * padded);
            }

            float[] y = new float[tokens * rows];
            float[] one = new float[4];
            fixed (byte* q = t["qweight"].Data)
            fixed (float* pa = absmax, px = x, pc = code, py = y, po = one)
            {
                for (int r = 0; r < rows; r++)
                {
                    FourBitFloatKernels.DotTokens4Avx2(q + (r * rowBytes), pa + (r * blocks), chunks, px, padded, pc, py + r, rows);
                }

                for (int k = 0; k < tokens; k++)
                {
                    FourBitFloatKernels.Dot4Avx2(q, rowBytes, pa, blocks, chunks, px + (k * padded), pc, po);
                    Assert.Equal(one, y.AsSpan(k * rows, rows).ToArray());
                }
            }
        }
    }
}
