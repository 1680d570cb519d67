using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Tests.Formats.Gguf;

namespace QuantSharp.Tests.Kernels;

/// <summary>The 4-row GGUF tiles against the per-row scalar reference on hand-made blocks (the random-weight cases are
/// in <see cref="GgufKernelTests"/>).</summary>
public unsafe class GgufTileKernelTests
{
    public static TheoryData<GgmlType> TileTypes() => new() { GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.TQ2_0 };

    [Theory]
    [MemberData(nameof(TileTypes))]
    public void Tile_MatchesScalarRowsOnQuantizedWeights(GgmlType type)
    {
        // On an AVX-VNNI machine MatMul runs GgufPrefillKernels and MatVec the row kernel, so the tile is checked here directly.
        const int rows = 4;
        byte* scratch = stackalloc byte[(int)GgufActivations.ScratchBytes(1, 1024)];
        float* fast = stackalloc float[4];
        float* reference = stackalloc float[4];
        foreach (int cols in new[] { 256, 512, 1024 })
        {
            float[] dense = GgufTestFiles.RandomFloats(rows * cols, cols, 0.05f);
            byte[] w = GgufQuantize.Matrix(type, dense, rows, cols);
            long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
            float[] x = GgufTestFiles.RandomFloats(cols, cols + 1);
            fixed (float* px = x)
            fixed (byte* pw = w)
            {
                GgufActivations.Quantize(px, 1, cols, scratch);
                GgufActivations a = GgufActivations.At(scratch, 1, cols, 0);
                GgufTileKernels.Dot4(type, pw, rowBytes, a, cols / 32, fast);
                GgufTileKernels.Dot4Scalar(type, pw, rowBytes, a, cols / 32, reference);
            }

            for (int r = 0; r < rows; r++)
            {
                double magnitude = 0;
                for (int c = 0; c < cols; c++)
                {
                    magnitude += Math.Abs(dense[r * cols + c] * x[c]);
                }

                Assert.True(Math.Abs(fast[r] - reference[r]) <= 1e-5 * magnitude + 1e-30, $"{type} {cols} row {r}: tile {fast[r]} vs scalar {reference[r]}");
            }
        }
    }
}
