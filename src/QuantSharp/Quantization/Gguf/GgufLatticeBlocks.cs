using System.Runtime.InteropServices;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Gguf;

// The IQ1/IQ2/IQ3 block layouts of llama.cpp (ggml-common.h). Each holds 256 weights as 32 groups of 8 (or 64 of 4)
// whose magnitudes are one entry of a fixed lattice grid (GgufLatticeGrids) and whose signs are stored apart. A
// "sign byte" from ksigns (GgufLatticeGrids.Signs) holds 7 stored sign bits and an eighth that makes the count even.

/// <summary>IQ2_XXS: 256 weights, 66 bytes (2.06 bits per weight).</summary>
/// <remarks>
/// Layout: <c>half d; uint16 qs[32]</c>. Group of 32 weights b reads the 8 bytes at <c>qs[4b]</c> as two uint32 a0, a1:
/// the four bytes of a0 index <c>iq2xxs_grid</c> for its four groups of 8, bits 7l…7l+6 of a1 select group l's sign byte,
/// and <c>a1 &gt;&gt; 28</c> is the 4-bit scale. Dequantization: <c>x = d · (0.5 + s) · 0.25 · grid · sign</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ2_XXS
{
    public Half D;
    public fixed ushort Qs[32];
}

/// <summary>IQ2_XS: 256 weights, 74 bytes (2.31 bits per weight).</summary>
/// <remarks>
/// Layout: <c>half d; uint16 qs[32]; uint8 scales[8]</c>. Each <c>qs</c> entry codes a group of 8: its low 9 bits index
/// <c>iq2xs_grid</c>, its high 7 bits select the sign byte. Group of 32 b has two 4-bit scales in <c>scales[b]</c> (low
/// nibble for its first 16 weights). Dequantization: <c>x = d · (0.5 + s) · 0.25 · grid · sign</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ2_XS
{
    public Half D;
    public fixed ushort Qs[32];
    public fixed byte Scales[8];
}

/// <summary>IQ2_S: 256 weights, 82 bytes (2.56 bits per weight).</summary>
/// <remarks>
/// Layout: <c>half d; uint8 qs[64]; uint8 qh[8]; uint8 scales[8]</c>. Group of 8 g (of 32) indexes <c>iq2s_grid</c> with
/// <c>qs[g]</c> plus bits 2l, 2l+1 of <c>qh[g / 4]</c> (l = g mod 4) as bits 8–9; its 8 signs are the plain bits of
/// <c>qs[32 + g]</c>. Scales as IQ2_XS.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ2_S
{
    public Half D;
    public fixed byte Qs[64];
    public fixed byte Qh[8];
    public fixed byte Scales[8];
}

/// <summary>IQ3_XXS: 256 weights, 98 bytes (3.06 bits per weight).</summary>
/// <remarks>
/// Layout: <c>half d; uint8 qs[96]</c>. <c>qs[0…63]</c> index <c>iq3xxs_grid</c>, one byte per 4 weights; group of 32 b
/// reads <c>qs[64 + 4b]</c> as a uint32 whose bits 7l…7l+6 select group-of-8 l's sign byte and whose top 4 bits are
/// the scale. Dequantization: <c>x = d · (0.5 + s) · 0.5 · grid · sign</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ3_XXS
{
    public Half D;
    public fixed byte Qs[96];
}

/// <summary>IQ3_S: 256 weights, 110 bytes (3.44 bits per weight).</summary>
/// <remarks>
/// Layout: <c>half d; uint8 qs[64]; uint8 qh[8]; uint8 signs[32]; uint8 scales[4]</c>. Each 4 weights index
/// <c>iq3s_grid</c> with <c>qs[k]</c> plus bit k mod 8 of <c>qh[k / 8]</c> as bit 8; signs are the plain bits of
/// <c>signs</c>, one byte per 8 weights. Group of 32 b has 4-bit scale <c>(scales[b / 2] &gt;&gt; 4(b mod 2)) &amp; 15</c>.
/// Dequantization: <c>x = d · (1 + 2s) · grid · sign</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ3_S
{
    public Half D;
    public fixed byte Qs[64];
    public fixed byte Qh[8];
    public fixed byte Signs[32];
    public fixed byte Scales[4];
}

/// <summary>IQ1_S: 256 weights, 50 bytes (1.56 bits per weight).</summary>
/// <remarks>
/// Layout: <c>half d; uint8 qs[32]; uint16 qh[8]</c>. Group of 8 g indexes <c>iq1s_grid</c> (values −1, 0, 1) with
/// <c>qs[g]</c> plus bits 3l…3l+2 of <c>qh[g / 4]</c> as bits 8–10; <c>qh[b]</c> bits 12–14 are group of 32 b's scale s
/// and bit 15 the sign of its shift δ = ±0.125. Dequantization: <c>x = d · (2s + 1) · (grid + δ)</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ1_S
{
    public Half D;
    public fixed byte Qs[32];
    public fixed ushort Qh[8];
}

/// <summary>IQ1_M: 256 weights, 56 bytes (1.75 bits per weight).</summary>
/// <remarks>
/// Layout: <c>uint8 qs[32]; uint8 qh[16]; uint8 scales[8]</c>, no separate d: the F16 super-block scale is the top
/// nibbles of the four uint16 in <c>scales</c>, and their low 12 bits are eight 3-bit scales, one per 16 weights. Group
/// of 8 g indexes <c>iq1s_grid</c> with <c>qs[g]</c> plus 3 bits of <c>qh[g / 2]</c> (low or high nibble); the nibble's
/// top bit is the sign of that group's shift δ = ±0.125. Dequantization: <c>x = d · (2s + 1) · (grid + δ)</c>.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ1_M
{
    public fixed byte Qs[32];
    public fixed byte Qh[16];
    public fixed byte Scales[8];
}
