using System.Runtime.InteropServices;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

/// <summary>The grids and scales the round-to-nearest schemes fit, worked out by hand (tests written for the survivors of
/// a Stryker run: docs/RESULTS.md, "Reliability").</summary>
public class GroupGridTests
{
    [Fact]
    public void Asymmetric_SpansMinToMax_ScaleRoundedUpToF16()
    {
        // lo −1, hi 3: scale (3 − (−1)) / 15 = 0.26667 → next F16 up 1093 · 2⁻¹² = 0.266845703125; zero round(1 / scale) = 4.
        GroupGrid g = GroupGrid.Fit([-1f, 0.5f, 3f], bits: 4, symmetric: false);
        Assert.Equal(new GroupGrid(0.266845703125f, 4, 15), g);
        Assert.Equal(15, g.Code(3));
        Assert.Equal(0, g.Code(-1));
    }

    [Fact]
    public void Asymmetric_ClipShrinksTheRangeToAFractionOfTheLargestMagnitude()
    {
        // limit 3 · 0.5 = 1.5: lo −1, hi 1.5; scale 2.5 / 15 → 1366 · 2⁻¹³ = 0.166748046875; zero round(5.997) = 6.
        Assert.Equal(new GroupGrid(0.166748046875f, 6, 15), GroupGrid.Fit([-1f, 0.5f, 3f], bits: 4, symmetric: false, clip: 0.5f));
    }

    [Fact]
    public void Symmetric_UsesTheLargestMagnitudeOnEitherSide()
    {
        // absmax 3 (the negative side): scale 2 · 3 / 15 = 0.4 → 1639 · 2⁻¹² = 0.400146484375, zero 8.
        Assert.Equal(new GroupGrid(0.400146484375f, 8, 15), GroupGrid.Fit([-3f, 1f], bits: 4, symmetric: true));
        // 3 bits: 2 · 3 / 7 = 0.857 → 1756 · 2⁻¹¹ = 0.857421875, zero 4.
        Assert.Equal(new GroupGrid(0.857421875f, 4, 7), GroupGrid.Fit([1f, 3f], bits: 3, symmetric: true));
    }

    [Fact]
    public void GroupsOfZerosGetScaleZeroAndEveryCodeIsTheZeroCode()
    {
        GroupGrid sym = GroupGrid.Fit([0f, 0f], bits: 4, symmetric: true);
        Assert.Equal(new GroupGrid(0, 8, 15), sym);
        Assert.Equal(8, sym.Code(5));
        Assert.Equal(new GroupGrid(0, 0, 3), GroupGrid.Fit([0f, 0f], bits: 2, symmetric: false));
    }

    [Fact]
    public void AConstantPositiveGroupStillSpansFromZero()
    {
        // lo = min(2, 0) = 0, hi 2: scale 2 / 15 → 1093 · 2⁻¹³ = 0.1334228515625, zero 0.
        Assert.Equal(new GroupGrid(0.1334228515625f, 0, 15), GroupGrid.Fit([2f, 2f], bits: 4, symmetric: false));
    }

    [Theory]
    [InlineData(true, 8)]
    [InlineData(false, 0)]
    public void Int4_AGroupOfZerosIsStoredAsTheZeroCode(bool symmetric, byte zeroCode)
    {
        float[] row = [.. new float[32], .. Enumerable.Range(0, 32).Select(i => i - 16f)];
        byte[] codes = Enumerable.Repeat((byte)0xAB, 64).ToArray();
        var scales = new Half[2];
        var zeros = new byte[2];
        Int4Scheme.QuantizeRow(row, 32, symmetric, codes, scales, zeros);
        Assert.All(codes[..32], c => Assert.Equal(zeroCode, c));
        Assert.Equal(Half.Zero, scales[0]);
        Assert.NotEqual(Half.Zero, scales[1]);
    }

    [Fact]
    public void Ternary_PerGroupScaleIsTheMeanMagnitudeOfItsOwnGroup()
    {
        // 2 rows × 64 inputs, groups of 32: every group a different magnitude.
        float[] w = new float[128];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = ((i % 2 == 0) ? 1 : -1) * (1 + (i / 32));
        }

        QuantizedTensor t = QuantScheme.For(QuantSpec.Ternary(TernaryGranularity.PerGroup, 32)).Quantize("t", w, 2, 64);
        float[] scales = MemoryMarshal.Cast<byte, float>(t["scales"].Data.AsSpan()).ToArray();
        Assert.Equal([1f, 2f, 3f, 4f], scales);
    }

    [Fact]
    public void Nf4_EachBlockKeepsItsOwnRowsLargestMagnitude()
    {
        // Row 1 is row 0 times 10: NF4's code 1.0 reproduces every block's absmax exactly (no double quantization).
        float[] w = new float[2 * 128];
        for (int c = 0; c < 128; c++)
        {
            w[c] = MathF.Sin(c * 0.37f) * (1 + (c / 64));
            w[128 + c] = 10 * w[c];
        }

        IQuantScheme scheme = QuantScheme.For(QuantSpec.FourBitFloat(fp4: false));
        QuantizedTensor t = scheme.Quantize("t", w, 2, 128);
        var row = new float[128];
        for (int r = 0; r < 2; r++)
        {
            scheme.DequantizeRow(t, r, row);
            for (int b = 0; b < 2; b++)
            {
                float expected = w.AsSpan((r * 128) + (b * 64), 64).ToArray().Max(MathF.Abs);
                Assert.Equal(expected, row.AsSpan(b * 64, 64).ToArray().Max(MathF.Abs));
            }
        }
    }

    [Theory]
    [InlineData(0, 4)]
    [InlineData(4, 0)]
    public void EmptyShapes_AreRefusedNamingTheTensorAndShape(int rows, int cols)
    {
        var e = Assert.Throws<QuantSharpException>(() => QuantScheme.For(QuantSpec.Int8()).Quantize("blk.w", [], rows, cols));
        Assert.Contains($"tensor 'blk.w': cannot quantize 0 values as a {rows}×{cols} matrix", e.Message);
    }
}
