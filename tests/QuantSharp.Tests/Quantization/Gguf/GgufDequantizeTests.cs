using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

using QuantSharp.Tests.Formats.Gguf;

namespace QuantSharp.Tests.Quantization.Gguf;

/// <summary>Hand-worked blocks: the bytes are written out literally and each expected value is derived in a comment
/// from the layout documented on the block struct (and in llama.cpp's ggml-quants.c).</summary>
public class GgufDequantizeTests
{
    private static float[] Dequantize(GgmlType type, byte[] block, int count)
    {
        var result = new float[count];
        GgufDequantize.Row(type, block, result);
        return result;
    }

    private static void AssertBits(float expected, float actual, int index)
    {
        Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
            $"element {index}: expected {expected:R} ({BitConverter.SingleToInt32Bits(expected):X8}), got {actual:R} ({BitConverter.SingleToInt32Bits(actual):X8})");
    }

    /// <summary>Checks the listed elements exactly and every other element against <paramref name="rest"/>.</summary>
    private static void AssertValues(float[] actual, Dictionary<int, float> expected, float rest)
    {
        for (int i = 0; i < actual.Length; i++)
        {
            AssertBits(expected.TryGetValue(i, out float e) ? e : rest, actual[i], i);
        }
    }

    [Fact]
    public void F32_F16_BF16()
    {
        // f32 1.0 = 3F800000, -2.0 = C0000000
        AssertValues(Dequantize(GgmlType.F32, [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0], 2), new() { [0] = 1f, [1] = -2f }, 0);
        // f16 3C00 = 1.0, C000 = -2.0, 3555 = 1 + 0x155/1024 times 2^-2 = 0.333251953125
        AssertValues(Dequantize(GgmlType.F16, [0x00, 0x3C, 0x00, 0xC0, 0x55, 0x35], 3), new() { [0] = 1f, [1] = -2f, [2] = 0.333251953125f }, 0);
        // bf16 3F80 = 1.0, C040 = -3.0
        AssertValues(Dequantize(GgmlType.BF16, [0x80, 0x3F, 0x40, 0xC0], 2), new() { [0] = 1f, [1] = -3f }, 0);
    }

    [Fact]
    public void Q8_0()
    {
        // d = 0x3800 = 0.5; x[j] = 0.5 * qs[j]
        byte[] block = new byte[34];
        block[0] = 0x00; block[1] = 0x38;
        block[2] = 1; block[3] = 0xFE; block[4] = 127; block[5] = 0x80;
        AssertValues(Dequantize(GgmlType.Q8_0, block, 32), new() { [0] = 0.5f, [1] = -1f, [2] = 63.5f, [3] = -64f }, 0f);
    }

    [Fact]
    public void Q4_0()
    {
        // d = 0x4000 = 2. qs[0] = 0x1F: element 0 = (15 − 8)·2 = 14, element 16 = (1 − 8)·2 = −14.
        // qs[1] = 0x80: element 1 = (0 − 8)·2 = −16, element 17 = (8 − 8)·2 = 0. Other bytes 0x88 → 0.
        byte[] block = new byte[18];
        block[0] = 0x00; block[1] = 0x40;
        for (int i = 2; i < 18; i++)
        {
            block[i] = 0x88;
        }

        block[2] = 0x1F; block[3] = 0x80;
        AssertValues(Dequantize(GgmlType.Q4_0, block, 32), new() { [0] = 14f, [16] = -14f, [1] = -16f, [17] = 0f }, 0f);
    }

    [Fact]
    public void Q4_1()
    {
        // d = 0.5, m = 0xBC00 = −1. qs[0] = 0x3A: element 0 = 10·0.5 − 1 = 4, element 16 = 3·0.5 − 1 = 0.5; others 0·0.5 − 1 = −1.
        byte[] block = new byte[20];
        block[0] = 0x00; block[1] = 0x38; block[2] = 0x00; block[3] = 0xBC;
        block[4] = 0x3A;
        AssertValues(Dequantize(GgmlType.Q4_1, block, 32), new() { [0] = 4f, [16] = 0.5f }, -1f);
    }

    [Fact]
    public void Q5_0()
    {
        // d = 1, qh = 0x00010001 (bits 0 and 16: fifth bit of elements 0 and 16).
        // qs[0] = 0x2F: element 0 = (0xF | 0x10) − 16 = 15; element 16 = (0x2 | 0x10) − 16 = 2.
        // qs[1] = 0x31: element 1 = 1 − 16 = −15, element 17 = 3 − 16 = −13. Others 0 − 16 = −16.
        byte[] block = new byte[22];
        block[0] = 0x00; block[1] = 0x3C;
        block[2] = 0x01; block[3] = 0x00; block[4] = 0x01; block[5] = 0x00;
        block[6] = 0x2F; block[7] = 0x31;
        AssertValues(Dequantize(GgmlType.Q5_0, block, 32), new() { [0] = 15f, [16] = 2f, [1] = -15f, [17] = -13f }, -16f);
    }

    [Fact]
    public void Q5_1()
    {
        // d = 0x3400 = 0.25, m = 1, qh = 0x80000000 (bit 31: fifth bit of element 31).
        // qs[15] = 0x70: element 15 = 0·0.25 + 1 = 1; element 31 = (7 | 16)·0.25 + 1 = 6.75.
        // qs[0] = 0x04: element 0 = 4·0.25 + 1 = 2. Others 0·0.25 + 1 = 1.
        byte[] block = new byte[24];
        block[0] = 0x00; block[1] = 0x34; block[2] = 0x00; block[3] = 0x3C;
        block[4] = 0x00; block[5] = 0x00; block[6] = 0x00; block[7] = 0x80;
        block[8] = 0x04;
        block[8 + 15] = 0x70;
        AssertValues(Dequantize(GgmlType.Q5_1, block, 32), new() { [31] = 6.75f, [0] = 2f }, 1f);
    }

    /// <summary>
    /// d = 1, dmin = 0.5. scales[0] = 0x42: sub-block 0 scale 2 (low 6 bits), top bits 01 → high part of sub-block 4's scale.
    /// scales[4] = 0x83: sub-block 0 min 3, top bits 10 → high part of sub-block 4's min. scales[8] = 0x51: sub-block 4 scale
    /// = 1 | 1&lt;&lt;4 = 17, min = 5 | 2&lt;&lt;4 = 37. All other sub-blocks have scale 0 and min 0.
    /// </summary>
    private static byte[] KScales() => [0x42, 0, 0, 0, 0x83, 0, 0, 0, 0x51, 0, 0, 0];

    [Fact]
    public void Q4_K()
    {
        byte[] block = new byte[144];
        block[0] = 0x00; block[1] = 0x3C; block[2] = 0x00; block[3] = 0x38;
        KScales().CopyTo(block, 4);
        const int qs = 16;
        block[qs + 0] = 0x7A;      // element 0 (sub-block 0, low nibble 10): 1·2·10 − 0.5·3 = 18.5; element 32 (sub-block 1, high 7): 0·7 − 0 = 0
        block[qs + 64 + 5] = 0x03; // element 133 (sub-block 4, low 3): 17·3 − 0.5·37 = 32.5
        var expected = new Dictionary<int, float> { [0] = 18.5f, [133] = 32.5f };
        for (int i = 1; i < 32; i++)
        {
            expected[i] = -1.5f;    // sub-block 0, q = 0: 0 − 1.5
        }

        for (int i = 128; i < 160; i++)
        {
            expected.TryAdd(i, -18.5f); // sub-block 4, q = 0: 0 − 18.5
        }

        AssertValues(Dequantize(GgmlType.Q4_K, block, 256), expected, 0f);
    }

    [Fact]
    public void Q5_K()
    {
        byte[] block = new byte[176];
        block[0] = 0x00; block[1] = 0x3C; block[2] = 0x00; block[3] = 0x38;
        KScales().CopyTo(block, 4);
        const int qh = 16, qs = 48;
        block[qh + 5] = 0x10;      // bit 4 = 2·2: fifth bit of element 64·2 + 5 = 133
        block[qh + 0] = 0x02;      // bit 1 = 2·0 + 1: fifth bit of element 32 (sub-block 1, scale 0): 0·16 − 0 = 0
        block[qs + 0] = 0x7A;      // element 0: 2·10 − 1.5 = 18.5
        block[qs + 64 + 5] = 0x03; // element 133: 17·(3 + 16) − 18.5 = 304.5
        var expected = new Dictionary<int, float> { [0] = 18.5f, [133] = 304.5f };
        for (int i = 1; i < 32; i++)
        {
            expected[i] = -1.5f;
        }

        for (int i = 128; i < 160; i++)
        {
            expected.TryAdd(i, -18.5f);
        }

        AssertValues(Dequantize(GgmlType.Q5_K, block, 256), expected, 0f);
    }

    [Fact]
    public void Q6_K()
    {
        byte[] block = new byte[210];
        const int ql = 0, qh = 128, sc = 192, d = 208;
        block[d] = 0x00; block[d + 1] = 0x38;                   // d = 0.5
        block[sc + 0] = 2; block[sc + 1] = 1; block[sc + 2] = 0xFF; block[sc + 4] = 3; block[sc + 6] = 4;
        block[ql + 0] = 0x21;
        block[ql + 32] = 0x5F;
        block[qh + 0] = 0xE4;                                     // 11 10 01 00
        var expected = new Dictionary<int, float>
        {
            [0] = -31f,   // (1 | 00<<4) − 32 = −31; 0.5·2·−31
            [32] = 0.5f,  // (0xF | 01<<4) − 32 = −1; 0.5·−1·−1
            [64] = 3f,    // (2 | 10<<4) − 32 = 2; 0.5·3·2
            [96] = 42f,   // (5 | 11<<4) − 32 = 21; 0.5·4·21
        };
        for (int i = 1; i < 16; i++)
        {
            expected[i] = -32f;       // scale 2: 0.5·2·−32
        }

        for (int i = 16; i < 32; i++)
        {
            expected[i] = -16f;       // scale 1: 0.5·1·−32
        }

        for (int i = 33; i < 48; i++)
        {
            expected[i] = 16f;        // scale −1: 0.5·−1·−32
        }

        for (int i = 65; i < 80; i++)
        {
            expected[i] = -48f;       // scale 3
        }

        for (int i = 97; i < 112; i++)
        {
            expected[i] = -64f;       // scale 4
        }

        AssertValues(Dequantize(GgmlType.Q6_K, block, 256), expected, -0f); // scale 0: (0.5·0)·−32 = −0
    }

    [Fact]
    public void TQ1_0()
    {
        byte[] block = new byte[54];
        block[52] = 0x00; block[53] = 0x40; // d = 2
        // qs[0] = 188 = ⌈178·256/243⌉ with 178 = 2·81 + 0·27 + 1·9 + 2·3 + 1: trits 2,0,1,2,1 →
        // elements 0, 32, 64, 96, 128 = 2·(t − 1) = 2, −2, 0, 2, 0.
        block[0] = 188;
        // qs[32] = 128 = ⌈121·256/243⌉, 121 = 11111₃: elements 160, 176, 192, 208, 224 = 0.
        block[32] = 128;
        // qh[0] = 253 = ⌈240·256/243⌉, 240 = 22220₃: elements 240, 244, 248, 252 = 2.
        block[48] = 253;
        var expected = new Dictionary<int, float>
        {
            [0] = 2f, [32] = -2f, [64] = 0f, [96] = 2f, [128] = 0f,
            [160] = 0f, [176] = 0f, [192] = 0f, [208] = 0f, [224] = 0f,
            [240] = 2f, [244] = 2f, [248] = 2f, [252] = 2f,
        };
        AssertValues(Dequantize(GgmlType.TQ1_0, block, 256), expected, -2f); // byte 0: all trits 0 → −2
    }

    [Fact]
    public void TQ2_0()
    {
        byte[] block = new byte[66];
        block[64] = 0x00; block[65] = 0x38; // d = 0.5
        block[0] = 0x92;      // 10 01 00 10: elements 0, 32, 64, 96 = q 2, 0, 1, 2 → 0.5, −0.5, 0, 0.5
        block[32 + 3] = 0x01; // element 128 + 3 = q 1 → 0; elements 163, 195, 227 = q 0 → −0.5
        AssertValues(Dequantize(GgmlType.TQ2_0, block, 256), new() { [0] = 0.5f, [32] = -0.5f, [64] = 0f, [96] = 0.5f, [131] = 0f }, -0.5f);
    }

    [Fact]
    public void Q2_0()
    {
        byte[] block = new byte[18];
        block[0] = 0x00; block[1] = 0x38; // d = 0.5
        block[2] = 0b11_10_01_00;         // elements 0..3 = q 0, 1, 2, 3 → −0.5, 0, 0.5, 1
        block[17] = 0xFF;                 // elements 60..63 = q 3 → 1; the rest q 0 → −0.5
        AssertValues(Dequantize(GgmlType.Q2_0, block, 64), new() { [0] = -0.5f, [1] = 0f, [2] = 0.5f, [3] = 1f, [60] = 1f, [61] = 1f, [62] = 1f, [63] = 1f }, -0.5f);
    }

    [Fact]
    public void IQ4_NL()
    {
        byte[] block = new byte[18];
        block[0] = 0x00; block[1] = 0x38; // d = 0.5
        block[2] = 0xF0;                  // element 0 = index 0 → −127 · 0.5, element 16 = index 15 → 113 · 0.5
        block[17] = 0x98;                 // element 15 = index 8 → 0.5, element 31 = index 9 → 6.5; the rest index 0
        AssertValues(Dequantize(GgmlType.IQ4_NL, block, 32), new() { [0] = -63.5f, [16] = 56.5f, [15] = 0.5f, [31] = 6.5f }, -63.5f);
    }

    [Fact]
    public void Q2_K()
    {
        byte[] block = new byte[84];
        block[80] = 0x00; block[81] = 0x3C; // d = 1
        block[82] = 0x00; block[83] = 0x38; // dmin = 0.5
        block[0] = 0x21;  // sub-block 0 (weights 0–15): scale 1, min 2 · 0.5 = 1
        block[16] = 0x03; // qs[0] bits 0–1: weight 0 = 3 → 1 · 3 − 1 = 2; weights 1–15: q 0 → −1
        block[9] = 0x13;  // sub-block 9 (weights 144–159: half 1, pair 0, second 16): scale 3, min 0.5
        block[64] = 0x02; // qs[48] bits 0–1: weight 144 = 2 → 3 · 2 − 0.5 = 5.5; weights 145–159 → −0.5
        var expected = new Dictionary<int, float> { [0] = 2f, [144] = 5.5f };
        for (int i = 1; i < 16; i++)
        {
            expected[i] = -1f;
            expected[144 + i] = -0.5f;
        }

        AssertValues(Dequantize(GgmlType.Q2_K, block, 256), expected, 0f);
    }

    [Fact]
    public void Q3_K()
    {
        byte[] block = new byte[110];
        block[108] = 0x00; block[109] = 0x3C; // d = 1
        for (int k = 0; k < 4; k++)
        {
            block[96 + 8 + k] = 0xAA; // high scale bits 2 everywhere: every scale 32 → 0 unless a low nibble is set
        }

        block[96 + 5] = 0x03; // scale 5 (g 1, k 1) = 35 → 3: weights 80–95 (half 0, pair 2, second 16)
        block[32 + 16] = 0x20; // qs[16] bits 4–5 = 2 …
        block[16] = 0x04;      // … and hmask[16] bit 2 set: weight 80 = 3 · 2 = 6; weights 81–95: 3 · (0 − 4) = −12
        block[96 + 6] = 0x10;  // scale 14 (g 3, k 2) = 33 → 1: weights 224–239 (half 1, pair 3, first 16)
        block[32 + 32] = 0xC0; // qs[32] bits 6–7 = 3 …
        block[0] = 0x80;       // … and hmask[0] bit 7 set: weight 224 = 3; weights 225–239: 0 − 4 = −4
        var expected = new Dictionary<int, float> { [80] = 6f, [224] = 3f };
        for (int i = 1; i < 16; i++)
        {
            expected[80 + i] = -12f;
            expected[224 + i] = -4f;
        }

        AssertValues(Dequantize(GgmlType.Q3_K, block, 256), expected, -0f); // 0 · (0 − 4) = −0
    }

    [Fact]
    public void IQ4_XS()
    {
        byte[] block = new byte[136];
        block[0] = 0x00; block[1] = 0x38; // d = 0.5
        block[2] = 0xAA; block[3] = 0xAA; // high scale bits 2 everywhere: every scale 32 → 0 unless a low nibble is set
        block[5] = 0x10;                  // scales_l[1] high nibble: block 3 scale 33 → 0.5
        block[8 + 48] = 0xF8;             // block 3, qs[0]: weight 96 = index 8 → 0.5 · 1, weight 112 = index 15 → 0.5 · 113
        var expected = new Dictionary<int, float> { [96] = 0.5f, [112] = 56.5f };
        for (int i = 1; i < 16; i++)
        {
            expected[96 + i] = -63.5f; // index 0 → −127 · 0.5
            expected[112 + i] = -63.5f;
        }

        AssertValues(Dequantize(GgmlType.IQ4_XS, block, 256), expected, -0f); // 0 · −127 = −0
    }

    [Fact]
    public void RejectsPartialBlocksAndShortSources()
    {
        Assert.Throws<ArgumentException>(() => GgufDequantize.Row(GgmlType.Q4_0, new byte[18], new float[31]));
        Assert.Throws<ArgumentException>(() => GgufDequantize.Row(GgmlType.Q4_K, new byte[143], new float[256]));
        Assert.Throws<NotSupportedException>(() => GgufDequantize.Row(GgmlType.MXFP4, new byte[17], new float[32]));
    }
}
