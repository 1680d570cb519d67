using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Tests.Formats.Gguf;

namespace QuantSharp.Tests.Kernels;

/// <summary>The 4-row GGUF tiles against the per-row scalar reference on hand-made blocks (the random-weight cases are
/// in <see cref="GgufKernelTests"/>).</summary>
public unsafe class GgufTileKernelTests
{
    [Fact]
    public void Q4_0Tile_HandlesNegativeSubnormalAndNonFiniteScales()
    {
        const int blocks = 8, rowBytes = blocks * 18;
        var random = new Random(3);
        byte[] w = new byte[4 * rowBytes];
        random.NextBytes(w);
        ushort[] specials = [0x8001, 0x03FF, 0x0400, 0xBC00, 0x3C00, 0x7BFF, 0xFBFF, 0x0000];
        for (int r = 0; r < 4; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                ushort bits = specials[(r + b) % specials.Length];
                w[r * rowBytes + b * 18] = (byte)bits;
                w[r * rowBytes + b * 18 + 1] = (byte)(bits >> 8);
            }
        }

        float[] x = GgufTestFiles.RandomFloats(blocks * 32, 5);
        byte* scratch = stackalloc byte[(int)GgufActivations.ScratchBytes(1, blocks * 32)];
        float* fast = stackalloc float[4];
        float* reference = stackalloc float[4];
        foreach (ushort last in new ushort[] { 0x3C00, 0x7C00, 0xFC00, 0x7E00 })
        {
            // The last block of row 2: finite, then +Inf, −Inf, NaN (the non-finite path falls back per value).
            w[2 * rowBytes + (blocks - 1) * 18] = (byte)last;
            w[2 * rowBytes + (blocks - 1) * 18 + 1] = (byte)(last >> 8);
            fixed (float* px = x)
            fixed (byte* pw = w)
            {
                GgufActivations.Quantize(px, 1, blocks * 32, scratch);
                GgufActivations a = GgufActivations.At(scratch, 1, blocks * 32, 0);
                GgufTileKernels.Dot4(GgmlType.Q4_0, pw, rowBytes, a, blocks, fast);
                GgufTileKernels.Dot4Scalar(GgmlType.Q4_0, pw, rowBytes, a, blocks, reference);
            }

            for (int r = 0; r < 4; r++)
            {
                float f = fast[r], s = reference[r];
                if (float.IsFinite(s))
                {
                    Assert.True(Math.Abs(f - s) <= 1e-5f * (1 + Math.Abs(s)), $"scale {last:X4} row {r}: tile {f} vs scalar {s}");
                }
                else
                {
                    // Lane-wise products can turn ∞ · 0 into NaN where the scalar sum stays ±∞: non-finite either way.
                    Assert.False(float.IsFinite(f), $"scale {last:X4} row {r}: tile {f} vs scalar {s}");
                }
            }
        }
    }

    public static TheoryData<GgmlType> TileTypes() => new() { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.TQ2_0 };

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
