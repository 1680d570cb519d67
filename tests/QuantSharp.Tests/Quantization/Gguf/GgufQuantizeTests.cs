using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

using QuantSharp.Tests.Formats.Gguf;

namespace QuantSharp.Tests.Quantization.Gguf;

public class GgufQuantizeTests
{
    [Fact]
    public void Q8_0_HandWorked_RoundsHalfAwayFromZero()
    {
        // amax = 127 → d = 1 (0x3C00), id = 1; roundf: 2.5 → 3, −2.5 → −3, 0.49 → 0, 126.6 → 127.
        var x = new float[32];
        x[0] = -127f; x[1] = 2.5f; x[2] = -2.5f; x[3] = 0.49f; x[4] = 126.6f;
        var block = new byte[34];
        GgufQuantize.Row(GgmlType.Q8_0, x, block);
        var expected = new byte[34];
        expected[1] = 0x3C;
        expected[2] = 0x81; expected[3] = 3; expected[4] = 0xFD; expected[5] = 0; expected[6] = 127;
        Assert.Equal(expected, block);
    }

    [Fact]
    public void Q4_0_HandWorked_SignedMaxMapsToMinusEight()
    {
        // The value of largest magnitude is −8, so d = −8 / −8 = 1 and id = 1; q = min(15, trunc(x + 8.5)).
        var x = new float[32];
        x[0] = -8f;   // 0.5 → 0
        x[1] = 7f;    // 15.5 → 15
        x[2] = 8f;    // 16.5 → 16 → 15 (|8| does not replace the first maximum)
        x[3] = 0.5f;  // 9.0 → 9
        x[4] = -0.5f; // 8.0 → 8
        x[5] = -0.6f; // 7.9 → 7
        x[16] = 3f;   // 11.5 → 11, the high nibble of qs[0]
        var block = new byte[18];
        GgufQuantize.Row(GgmlType.Q4_0, x, block);
        byte[] expected = [0x00, 0x3C, 0xB0, 0x8F, 0x8F, 0x89, 0x88, 0x87, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88];
        Assert.Equal(expected, block);
    }

    [Fact]
    public void TQ2_0_HandWorked()
    {
        // amax = 2 → d = 2 (0x4000), id = 0.5; q = lroundf(x · 0.5) + 1.
        var x = new float[256];
        x[0] = 2f;     // 1 → 2
        x[32] = -2f;   // −1 → 0
        x[64] = 0.9f;  // 0.45 → 0 → 1
        x[96] = 1f;    // 0.5 → 1 (half away from zero) → 2
        var block = new byte[66];
        GgufQuantize.Row(GgmlType.TQ2_0, x, block);
        var expected = Enumerable.Repeat((byte)0x55, 64).Concat(new byte[] { 0x00, 0x40 }).ToArray();
        expected[0] = 0b10_01_00_10;
        Assert.Equal(expected, block);
    }

    [Fact]
    public void Q2_0_HandWorked()
    {
        // amax = 2 → d = 2 (0x4000), id = 0.5; q = clamp(round(x · 0.5) + 1, 0, 3), element j in bits 2(j % 4) of qs[j / 4].
        var x = new float[64];
        x[0] = 2f;     // 1 → 2
        x[1] = -2f;    // −1 → 0
        x[2] = 0.9f;   // 0.45 → 0 → 1
        x[3] = 1f;     // 0.5 → 1 (half away from zero) → 2
        x[5] = -1f;    // −0.5 → −1 → 0
        var block = new byte[18];
        GgufQuantize.Row(GgmlType.Q2_0, x, block);
        var expected = new byte[] { 0x00, 0x40 }.Concat(Enumerable.Repeat((byte)0x55, 16)).ToArray();
        expected[2] = 0b10_01_00_10;
        expected[3] = 0b01_01_00_01;
        Assert.Equal(expected, block);
    }

    [Fact]
    public void IQ4_NL_CodeBookValuesTimesAScaleRoundTripExactly()
    {
        // A block made of code-book values times 0.5 (the extremes −127 and 113 both present): the least-squares scale
        // is exactly 0.5 and every value maps back onto its own index.
        sbyte[] values = BlockIQ4_NL.Values.ToArray();
        float[] x = Enumerable.Range(0, 64).Select(i => 0.5f * values[(i * 7) % 16]).ToArray();
        var bytes = new byte[36];
        GgufQuantize.Row(GgmlType.IQ4_NL, x, bytes);
        Assert.Equal(0x3800, BitConverter.ToUInt16(bytes, 0)); // 0.5 in F16
        var back = new float[64];
        GgufDequantize.Row(GgmlType.IQ4_NL, bytes, back);
        Assert.Equal(x, back);
    }

    [Fact]
    public void IQ4_NL_BeatsQ4_0OnGaussianWeights()
    {
        // The point of the non-linear code book: at the same 4.5 bits, lower error on bell-shaped weights.
        float[] x = GgufTestFiles.RandomFloats(8192, 21);
        Assert.True(RelativeRms(GgmlType.IQ4_NL, x) < 0.9 * RelativeRms(GgmlType.Q4_0, x));
    }

    private static double RelativeRms(GgmlType type, float[] x)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        GgufQuantize.Row(type, x, bytes);
        var back = new float[x.Length];
        GgufDequantize.Row(type, bytes, back);
        double err = 0, norm = 0;
        for (int i = 0; i < x.Length; i++)
        {
            err += (x[i] - back[i]) * (double)(x[i] - back[i]);
            norm += x[i] * (double)x[i];
        }

        return Math.Sqrt(err / norm);
    }

    [Theory]
    [InlineData(GgmlType.Q2_0)]
    [InlineData(GgmlType.TQ2_0)]
    [InlineData(GgmlType.TQ1_0)]
    public void Ternary_RoundTripsTernaryInputExactly(GgmlType type)
    {
        var rng = new Random(3);
        float[] x = Enumerable.Range(0, 1024).Select(_ => 0.75f * (rng.Next(3) - 1)).ToArray();
        x[0] = 0.75f;
        x[256] = -0.75f;
        x[512] = 0.75f;
        x[768] = 0.75f;
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, 1024)];
        GgufQuantize.Row(type, x, bytes);
        var back = new float[1024];
        GgufDequantize.Row(type, bytes, back);
        Assert.Equal(x, back);
    }

    [Fact]
    public void Q8_0_RoundTripsGridValuesExactly()
    {
        var rng = new Random(5);
        float[] x = Enumerable.Range(0, 256).Select(i => 0.25f * (i % 32 == 0 ? 127 : rng.Next(-127, 128))).ToArray();
        var bytes = new byte[GgmlTypeInfo.RowBytes(GgmlType.Q8_0, 256)];
        GgufQuantize.Row(GgmlType.Q8_0, x, bytes);
        var back = new float[256];
        GgufDequantize.Row(GgmlType.Q8_0, bytes, back);
        Assert.Equal(x, back);
    }

    [Theory]
    [InlineData(GgmlType.F16, 0.001)]
    [InlineData(GgmlType.BF16, 0.005)]
    [InlineData(GgmlType.Q8_0, 0.01)]
    [InlineData(GgmlType.Q6_K, 0.04)]
    [InlineData(GgmlType.Q5_K, 0.06)]
    [InlineData(GgmlType.Q5_0, 0.08)]
    [InlineData(GgmlType.Q5_1, 0.08)]
    [InlineData(GgmlType.Q4_K, 0.11)]
    [InlineData(GgmlType.Q4_1, 0.15)]
    [InlineData(GgmlType.Q4_0, 0.15)]
    [InlineData(GgmlType.IQ4_NL, 0.12)]
    public void RelativeRmsError_IsWithinTheTypesBudget(GgmlType type, double budget)
    {
        double rel = RelativeRms(type, GgufTestFiles.RandomFloats(4096, 11));
        Assert.True(rel < budget, $"{type}: relative RMS error {rel:F4} ≥ {budget}");
        Assert.True(rel > budget / 20 || type is GgmlType.F16 or GgmlType.BF16, $"{type}: relative RMS error {rel:F5} is implausibly small");
    }

    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.TQ2_0)]
    [InlineData(GgmlType.Q2_0)]
    [InlineData(GgmlType.IQ4_NL)]
    public void ZeroInput_GivesZeroBlocks(GgmlType type)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, 256)];
        bytes.AsSpan().Fill(0xAB);
        GgufQuantize.Row(type, new float[256], bytes);
        var back = new float[256];
        GgufDequantize.Row(type, bytes, back);
        Assert.All(back, v => Assert.Equal(0f, Math.Abs(v)));
    }

    [Fact]
    public void Q4_K_SubBlockScalesAreUsed()
    {
        // Sub-blocks with different ranges (4×): a K-quant keeps each one's error proportional to its own range (with a
        // much larger ratio the 6-bit sub-block scales, relative to the super-block maximum, run out of resolution).
        var x = new float[256];
        var rng = new Random(9);
        for (int i = 0; i < 256; i++)
        {
            x[i] = (float)(rng.NextDouble() - 0.3) * (i < 32 ? 4f : 1f);
        }

        var bytes = new byte[144];
        GgufQuantize.Row(GgmlType.Q4_K, x, bytes);
        var back = new float[256];
        GgufDequantize.Row(GgmlType.Q4_K, bytes, back);
        for (int i = 32; i < 256; i++)
        {
            Assert.True(Math.Abs(back[i] - x[i]) < 0.06, $"element {i}: {back[i]} vs {x[i]}");
        }
    }
}
