using System.Runtime.InteropServices;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

/// <summary>Bit-exact packing against hand-worked examples (the expected bytes are written out literally).</summary>
public class PackingTests
{
    private static byte[] Bytes(QuantizedTensor t, string part) => t[part].Data;

    [Fact]
    public void Int8_HandWorked()
    {
        // absmax 1 → scale 1/127; 1→127, −0.5·127 = −63.5 → −64 (half to even), 0.25·127 = 31.75 → 32, 0 → 0.
        QuantizedTensor t = QuantScheme.Quantize(QuantSpec.Int8(), "w", [1f, -0.5f, 0.25f, 0f], 1, 4);
        Assert.Equal(new byte[] { 0x7F, 0xC0, 0x20, 0x00 }, Bytes(t, "qweight"));
        Assert.Equal(1f / 127f, MemoryMarshal.Cast<byte, float>(Bytes(t, "scales"))[0]);
    }

    [Fact]
    public void Int4Symmetric_HandWorked()
    {
        // absmax 0.7 → 0.1 → F16 0x2E66 = 0.09998 < 0.1, rounded up to 0x2E67 = 0.100037.
        // 0.7/s = 6.997 → 7 → code 15; −0.35/s = −3.499 → −3 → code 5; 0.05/s = 0.4998 → 0 → code 8; pad = 8.
        // byte j = code j | code (j+16) << 4.
        QuantizedTensor t = QuantScheme.Quantize(QuantSpec.Int4(32, true), "w", [0.7f, -0.35f, 0.05f], 1, 3);
        byte[] expected = [0x8F, 0x85, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88];
        Assert.Equal(expected, Bytes(t, "qweight"));
        Assert.Equal(new byte[] { 0x67, 0x2E }, Bytes(t, "scales"));
        Assert.Throws<KeyNotFoundException>(() => t["zeros"]);
    }

    [Fact]
    public void Int4Asymmetric_HandWorked()
    {
        // lo = −0.5, hi = 1.375 → scale 1.875/15 = 0.125 (F16 0x3000), zero = round(0.5/0.125) = 4.
        // 1.375 → 11+4 = 15; −0.5 → −4+4 = 0; 0 → 4; 0.3/0.125 = 2.4 → 2+4 = 6; padding = zero point 4.
        QuantizedTensor t = QuantScheme.Quantize(QuantSpec.Int4(32, false), "w", [1.375f, -0.5f, 0f, 0.3f], 1, 4);
        byte[] expected = [0x4F, 0x40, 0x44, 0x46, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44];
        Assert.Equal(expected, Bytes(t, "qweight"));
        Assert.Equal(new byte[] { 0x00, 0x30 }, Bytes(t, "scales"));
        Assert.Equal(new byte[] { 0x04 }, Bytes(t, "zeros"));
    }

    [Fact]
    public void Int4_SecondHalfOfChunkGoesToHighNibble()
    {
        // 32 codes: element j = 1 (value +s), element j+16 = −1 → codes 9 and 7 → byte 0x79 for every j.
        float[] w = new float[32];
        for (int j = 0; j < 16; j++)
        {
            w[j] = 0.7f;
            w[j + 16] = -0.7f;
        }

        // absmax 0.7 → codes 15 (7+8) and 1 (−7+8).
        QuantizedTensor t = QuantScheme.Quantize(QuantSpec.Int4(32, true), "w", w, 1, 32);
        Assert.All(Bytes(t, "qweight"), b => Assert.Equal(0x1F, b));
    }

    [Fact]
    public void Nf4_HandWorked()
    {
        // absmax 1; 1 → 15, −1 → 0, 0 → 7, 0.5 (< midpoint 0.5017 of 0.4407|0.5626) → 12, −0.3 (> midpoint −0.3397) → 4; pad = 7 (+0).
        QuantizedTensor t = QuantScheme.Quantize(QuantSpec.FourBitFloat(false), "w", [1f, -1f, 0f, 0.5f, -0.3f], 1, 5);
        byte[] expected = [0x7F, 0x70, 0x77, 0x7C, 0x74, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77];
        Assert.Equal(expected, Bytes(t, "qweight"));
        Assert.Equal(1f, MemoryMarshal.Cast<byte, float>(Bytes(t, "absmax"))[0]);
    }

    [Fact]
    public void Fp4_HandWorked()
    {
        // FP4 codes (÷12): 3 = 12/12, 13 = −6/12, 6 = 2/12 (0.2 is below the 0.2083 midpoint to 3/12), 0 = +0; pad = 0.
        QuantizedTensor t = QuantScheme.Quantize(QuantSpec.FourBitFloat(true), "w", [1f, -0.5f, 0.2f, 0f], 1, 4);
        byte[] expected = [0x03, 0x0D, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        Assert.Equal(expected, Bytes(t, "qweight"));
    }

    [Fact]
    public void Ternary_HandWorked()
    {
        // mean|w| = (0.9 + 0.1 + 1.3 + 0.5) / 4 = 0.7; t = [1, 0, −1 (clamped from −2), 1]; codes t+1 = [2, 1, 0, 2]; pad = 1.
        // byte j = code j | code (j+8) << 2 | code (j+16) << 4 | code (j+24) << 6, padding codes = 1 → 0b01010100 = 0x54 plus code j.
        QuantizedTensor t = QuantScheme.Quantize(QuantSpec.Ternary(TernaryGranularity.PerRow), "w", [0.9f, -0.1f, -1.3f, 0.5f], 1, 4);
        Assert.Equal(new byte[] { 0x56, 0x55, 0x54, 0x56, 0x55, 0x55, 0x55, 0x55 }, Bytes(t, "qweight"));
        Assert.Equal(0.7f, MemoryMarshal.Cast<byte, float>(Bytes(t, "scales"))[0], 6);
    }

    [Fact]
    public void PackLayout_RoundTrips()
    {
        var rng = new Random(5);
        foreach (int n in (int[])[1, 7, 31, 32, 33, 64, 172])
        {
            byte[] codes4 = Enumerable.Range(0, n).Select(_ => (byte)rng.Next(16)).ToArray();
            byte[] packed4 = new byte[PackLayout.RowBytes4(n)];
            PackLayout.Pack4(codes4, packed4, 3);
            byte[] back = new byte[n];
            PackLayout.Unpack4(packed4, back);
            Assert.Equal(codes4, back);

            byte[] codes2 = Enumerable.Range(0, n).Select(_ => (byte)rng.Next(3)).ToArray();
            byte[] packed2 = new byte[PackLayout.RowBytes2(n)];
            PackLayout.Pack2(codes2, packed2, 1);
            PackLayout.Unpack2(packed2, back);
            Assert.Equal(codes2, back);
            for (int i = n; i < PackLayout.Chunks(n) * 32; i++)
            {
                Assert.Equal(3, PackLayout.Code4(packed4, i));
                Assert.Equal(1, PackLayout.Code2(packed2, i));
            }
        }
    }

    [Fact]
    public void CodeBooks_AreBitsandbytes()
    {
        // Spot values from bitsandbytes get_4bit_type("nf4") and the fp4 table [0, 0.0625, 8, 12, 4, 6, 2, 3, −0, …] / 12.
        Assert.Equal(-0.6961928009986877f, FourBitFloatScheme.Nf4Code[1]);
        Assert.Equal(0.07958029955625534f, FourBitFloatScheme.Nf4Code[8]);
        Assert.Equal(0.7229568362236023f, FourBitFloatScheme.Nf4Code[14]);
        Assert.Equal(0.0625f / 12f, FourBitFloatScheme.Fp4Code[1]);
        Assert.Equal(8f / 12f, FourBitFloatScheme.Fp4Code[2]);
        Assert.Equal(-0.25f, FourBitFloatScheme.Fp4Code[15]);
    }
}
