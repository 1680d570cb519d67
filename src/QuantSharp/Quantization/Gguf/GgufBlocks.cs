using System.Runtime.InteropServices;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Gguf;

// Block layouts of ggml's quantized types (ggml-common.h), read in place from the memory map. All fields are
// little-endian; "half" is IEEE binary16. Element i of a row lives in block i / BlockSize.

/// <summary>Q8_0: 32 weights, 34 bytes.</summary>
/// <remarks>Layout: <c>half d; int8 qs[32]</c>. Dequantization: <c>x[j] = d · qs[j]</c>.</remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ8_0
{
    public Half D;
    public fixed sbyte Qs[32];
}

/// <summary>Q4_0: 32 weights, 18 bytes.</summary>
/// <remarks>Layout: <c>half d; uint8 qs[16]</c>; the low nibble of <c>qs[j]</c> is weight j, the high nibble weight
/// j + 16. Dequantization: <c>x = d · (nibble − 8)</c>.</remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ4_0
{
    public Half D;
    public fixed byte Qs[16];
}

/// <summary>Q4_1: 32 weights, 20 bytes.</summary>
/// <remarks>Layout: <c>half d; half m; uint8 qs[16]</c> (nibbles as in Q4_0). Dequantization: <c>x = d · nibble + m</c>.</remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ4_1
{
    public Half D;
    public Half M;
    public fixed byte Qs[16];
}

/// <summary>Q5_0: 32 weights, 22 bytes.</summary>
/// <remarks>Layout: <c>half d; uint8 qh[4]; uint8 qs[16]</c>. Bit j of the little-endian u32 <c>qh</c> is the fifth bit
/// of weight j (j &lt; 32); nibbles as in Q4_0. Dequantization: <c>x = d · (q5 − 16)</c>.</remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ5_0
{
    public Half D;
    public fixed byte Qh[4];
    public fixed byte Qs[16];
}

/// <summary>Q5_1: 32 weights, 24 bytes.</summary>
/// <remarks>Layout: <c>half d; half m; uint8 qh[4]; uint8 qs[16]</c>. Dequantization: <c>x = d · q5 + m</c>.</remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ5_1
{
    public Half D;
    public Half M;
    public fixed byte Qh[4];
    public fixed byte Qs[16];
}

/// <summary>Q4_K: 256 weights in 8 sub-blocks of 32, 144 bytes.</summary>
/// <remarks>
/// Layout: <c>half d; half dmin; uint8 scales[12]; uint8 qs[128]</c>. Sub-block j has a 6-bit scale <c>sc</c> and 6-bit
/// min <c>m</c>: for j &lt; 4, <c>sc = scales[j] &amp; 63</c>, <c>m = scales[j+4] &amp; 63</c>; for j ≥ 4,
/// <c>sc = (scales[j+4] &amp; 15) | (scales[j-4] &gt;&gt; 6) &lt;&lt; 4</c>, <c>m = (scales[j+4] &gt;&gt; 4) | (scales[j] &gt;&gt; 6) &lt;&lt; 4</c>.
/// Weights 64c..64c+31 are the low nibbles of <c>qs[32c..32c+31]</c> (sub-block 2c), weights 64c+32..64c+63 the high
/// nibbles (sub-block 2c+1). Dequantization: <c>x = d · sc · q − dmin · m</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ4_K
{
    public Half D;
    public Half DMin;
    public fixed byte Scales[12];
    public fixed byte Qs[128];
}

/// <summary>Q5_K: 256 weights, 176 bytes.</summary>
/// <remarks>
/// Layout: <c>half d; half dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]</c>. Scales and nibbles as in Q4_K; the
/// fifth bit of weight 64c + l (l &lt; 32) is bit 2c of <c>qh[l]</c>, of weight 64c + 32 + l bit 2c+1.
/// Dequantization: <c>x = d · sc · q5 − dmin · m</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ5_K
{
    public Half D;
    public Half DMin;
    public fixed byte Scales[12];
    public fixed byte Qh[32];
    public fixed byte Qs[128];
}

/// <summary>Q6_K: 256 weights in 16 sub-blocks of 16, 210 bytes; the scale comes last.</summary>
/// <remarks>
/// Layout: <c>uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d</c>. In half h (weights 128h..128h+127), for
/// l &lt; 32, with <c>L = ql + 64h</c>, <c>H = qh + 32h</c>: weight 128h+l = <c>L[l] &amp; 15 | (H[l] &amp; 3) &lt;&lt; 4</c>,
/// +32 = <c>L[l+32] &amp; 15 | (H[l] &gt;&gt; 2 &amp; 3) &lt;&lt; 4</c>, +64 = <c>L[l] &gt;&gt; 4 | (H[l] &gt;&gt; 4 &amp; 3) &lt;&lt; 4</c>,
/// +96 = <c>L[l+32] &gt;&gt; 4 | (H[l] &gt;&gt; 6) &lt;&lt; 4</c>. Weight i uses <c>scales[i / 16]</c>.
/// Dequantization: <c>x = d · scale · (q6 − 32)</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ6_K
{
    public fixed byte Ql[128];
    public fixed byte Qh[64];
    public fixed sbyte Scales[16];
    public Half D;
}

/// <summary>TQ1_0: 256 ternary weights, 54 bytes (1.6875 bits per weight); the scale comes last.</summary>
/// <remarks>
/// Layout: <c>uint8 qs[48]; uint8 qh[4]; half d</c>. Each byte packs 5 trits (4 for <c>qh</c>) as a fixed-point
/// fraction: trit n of byte b is <c>((uint8)(b · 3ⁿ) · 3) &gt;&gt; 8</c> (the multiplication wraps to 8 bits).
/// Weights 0..159: trit n of <c>qs[m]</c> (m &lt; 32) is weight 32n + m; weights 160..239: trit n of <c>qs[32 + m]</c>
/// (m &lt; 16) is weight 160 + 16n + m; weights 240..255: trit n of <c>qh[j]</c> (n &lt; 4) is weight 240 + 4n + j.
/// Dequantization: <c>x = d · (trit − 1)</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockTQ1_0
{
    public fixed byte Qs[48];
    public fixed byte Qh[4];
    public Half D;
}

/// <summary>TQ2_0: 256 ternary weights, 66 bytes (2.0625 bits per weight); the scale comes last.</summary>
/// <remarks>
/// Layout: <c>uint8 qs[64]; half d</c>. In chunk c (weights 128c..128c+127), bits 2n..2n+1 of <c>qs[32c + m]</c> hold
/// weight 128c + 32n + m as q ∈ {0, 1, 2}. Dequantization: <c>x = d · (q − 1)</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockTQ2_0
{
    public fixed byte Qs[64];
    public Half D;
}

/// <summary>Q2_0: 64 weights, 18 bytes (2.25 bits per weight): one F16 scale and 2-bit codes.</summary>
/// <remarks>
/// Layout: <c>half d; uint8 qs[16]</c>. Bits 2(j mod 4)..2(j mod 4)+1 of <c>qs[j / 4]</c> hold weight j as q ∈ 0..3.
/// Dequantization: <c>x = d · (q − 1)</c> (00 = −d, 01 = 0, 10 = +d, 11 = +2d), so ternary weights with one scale per
/// 64 map onto it exactly.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ2_0
{
    public Half D;
    public fixed byte Qs[16];
}

/// <summary>IQ4_NL: 32 weights, 18 bytes (4.5 bits per weight): one F16 scale and 4-bit indices into a fixed non-linear
/// code book (<see cref="Values"/>).</summary>
/// <remarks>
/// Layout: <c>half d; uint8 qs[16]</c>, the low nibble of <c>qs[j]</c> indexing weight j and the high nibble weight
/// j + 16 (as Q4_0). Dequantization: <c>x = d · Values[index]</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ4_NL
{
    public Half D;
    public fixed byte Qs[16];

    /// <summary>The code book (llama.cpp's <c>kvalues_iq4nl</c>): denser near zero, where most weights are.</summary>
    public static ReadOnlySpan<sbyte> Values => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
}

/// <summary>Q2_K: 256 weights in 16 sub-blocks of 16, 84 bytes (2.625 bits per weight).</summary>
/// <remarks>
/// Layout: <c>uint8 scales[16]; uint8 qs[64]; half d; half dmin</c>. Sub-block s has scale <c>d · (scales[s] &amp; 15)</c>
/// and min <c>dmin · (scales[s] &gt;&gt; 4)</c>. In half h (weights 128h…), bits 2n..2n+1 of <c>qs[32h + m]</c> hold
/// weight 128h + 32n + m (sub-block 8h + 2n + m / 16). Dequantization: <c>x = scale · q − min</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ2_K
{
    public fixed byte Scales[16];
    public fixed byte Qs[64];
    public Half D;
    public Half Dmin;
}

/// <summary>Q3_K: 256 weights in 16 sub-blocks of 16, 110 bytes (3.4375 bits per weight).</summary>
/// <remarks>
/// Layout: <c>uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; half d</c>. Low two bits as in Q2_K; the third bit of
/// weight 128h + 32n + m is bit 4h + n of <c>hmask[m]</c>, and a clear bit subtracts 4 (q ∈ −4…3). The 16 six-bit
/// scales: scale 4g + k has low nibble <c>scales[k]</c> (g = 0), <c>scales[4 + k]</c> (g = 1), their high nibbles
/// (g = 2, 3), and high bits <c>(scales[8 + k] &gt;&gt; 2g) &amp; 3</c>; value − 32. Dequantization: <c>x = d · (s − 32) · q</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ3_K
{
    public fixed byte HMask[32];
    public fixed byte Qs[64];
    public fixed byte Scales[12];
    public Half D;
}

/// <summary>IQ4_XS: 256 weights in 8 blocks of 32 on the IQ4_NL code book, 136 bytes (4.25 bits per weight).</summary>
/// <remarks>
/// Layout: <c>half d; uint16 scales_h; uint8 scales_l[4]; uint8 qs[128]</c>. Block b's six-bit scale is
/// <c>(scales_l[b / 2] &gt;&gt; 4(b mod 2)) &amp; 15</c> with high bits <c>(scales_h &gt;&gt; 2b) &amp; 3</c>, value − 32; its
/// indices are <c>qs[16b…16b + 15]</c> laid out as in IQ4_NL. Dequantization: <c>x = d · (s − 32) · Values[index]</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ4_XS
{
    public Half D;
    public ushort ScalesH;
    public fixed byte ScalesL[4];
    public fixed byte Qs[128];
}
