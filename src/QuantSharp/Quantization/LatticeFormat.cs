using QuantSharp.Quantization.Gguf;
using System.Buffers.Binary;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization;

/// <summary>
/// One of llama.cpp's lattice-codebook block types as a QuantSharp format: super-blocks of 256 weights, each group of
/// 8 coded as one entry of a fixed grid of magnitudes (or two entries of a 4-wide grid) plus 8 signs, a 4-bit scale per
/// 16 or 32 weights and one F16 scale <c>d</c> per block. A group's value is <c>d · α · (s + ½) · grid · sign</c>.
/// The stored bytes are exactly the GGUF blocks, so export to llama.cpp copies them and
/// <see cref="GgufDequantize"/> is the reference decoder.
/// </summary>
internal sealed class LatticeFormat
{
    /// <summary>Weights per block.</summary>
    public const int BlockWeights = 256;

    /// <summary>Weights per sign byte (one group).</summary>
    public const int GroupWeights = 8;

    private LatticeFormat(QuantSchemeKind kind, GgmlType type, byte[] grid, int entryWidth, bool signParity, int scaleSpan, float alpha)
    {
        Kind = kind;
        Type = type;
        EntryWidth = entryWidth;
        Entries = grid.Length / entryWidth;
        SignParity = signParity;
        ScaleSpan = scaleSpan;
        Alpha = alpha;
        Magnitudes = new float[grid.Length];
        Squares = new float[grid.Length];
        for (int e = 0; e < Entries; e++)
        {
            for (int k = 0; k < entryWidth; k++)
            {
                float g = grid[(e * entryWidth) + k];
                Magnitudes[(k * Entries) + e] = g;
                Squares[(k * Entries) + e] = g * g;
                MaxLevel = Math.Max(MaxLevel, g);
            }
        }
    }

    /// <summary>IQ2_XS: 512 8-wide entries, 7 stored signs (even count), a scale per 16; 2.31 bits per weight.</summary>
    public static LatticeFormat Iq2Xs { get; } = new(QuantSchemeKind.Iq2Xs, GgmlType.IQ2_XS, GgufLatticeGrids.Iq2xs, 8, true, 16, 0.25f);

    /// <summary>IQ2_S: 1024 8-wide entries, 8 free signs, a scale per 16; 2.56 bits per weight.</summary>
    public static LatticeFormat Iq2S { get; } = new(QuantSchemeKind.Iq2S, GgmlType.IQ2_S, GgufLatticeGrids.Iq2s, 8, false, 16, 0.25f);

    /// <summary>IQ3_XXS: 256 4-wide entries, 7 stored signs (even count), a scale per 32; 3.06 bits per weight.</summary>
    public static LatticeFormat Iq3Xxs { get; } = new(QuantSchemeKind.Iq3Xxs, GgmlType.IQ3_XXS, GgufLatticeGrids.Iq3xxs, 4, true, 32, 0.5f);

    /// <summary>IQ3_S: 512 4-wide entries, 8 free signs, a scale per 32; 3.44 bits per weight.</summary>
    public static LatticeFormat Iq3S { get; } = new(QuantSchemeKind.Iq3S, GgmlType.IQ3_S, GgufLatticeGrids.Iq3s, 4, false, 32, 2f);

    /// <summary>All lattice formats.</summary>
    public static IReadOnlyList<LatticeFormat> All { get; } = [Iq2Xs, Iq2S, Iq3Xxs, Iq3S];

    /// <summary>The scheme kind stored in <c>qmeta</c>.</summary>
    public QuantSchemeKind Kind { get; }

    /// <summary>The GGUF block type the bytes are.</summary>
    public GgmlType Type { get; }

    /// <summary>Canonical scheme name, llama.cpp's type name (<c>iq2_xs</c>).</summary>
    public string Name => GgmlTypeInfo.Name(Type);

    /// <summary>Weights one grid entry covers (8 or 4).</summary>
    public int EntryWidth { get; }

    /// <summary>Entries in the grid.</summary>
    public int Entries { get; }

    /// <summary>True when only 7 signs per group are stored and the eighth makes the count of negatives even.</summary>
    public bool SignParity { get; }

    /// <summary>Weights sharing one 4-bit scale (16 or 32).</summary>
    public int ScaleSpan { get; }

    /// <summary>α in <c>d · α · (s + ½)</c>.</summary>
    public float Alpha { get; }

    /// <summary>The largest grid magnitude.</summary>
    public float MaxLevel { get; }

    /// <summary>Magnitude k of entry e at <c>[k · Entries + e]</c> (transposed for vector loops over entries).</summary>
    public float[] Magnitudes { get; }

    /// <summary>Squares of <see cref="Magnitudes"/>, same layout.</summary>
    public float[] Squares { get; }

    /// <summary>Bytes per block of 256 weights.</summary>
    public int BlockBytes => GgmlTypeInfo.TypeSize(Type);

    /// <summary>The format of <paramref name="kind"/>, or null when it is not a lattice kind.</summary>
    public static LatticeFormat? For(QuantSchemeKind kind) => kind switch
    {
        QuantSchemeKind.Iq2Xs => Iq2Xs,
        QuantSchemeKind.Iq2S => Iq2S,
        QuantSchemeKind.Iq3Xxs => Iq3Xxs,
        QuantSchemeKind.Iq3S => Iq3S,
        _ => null,
    };

    /// <summary>The format whose blocks are GGUF type <paramref name="type"/>, or null when it is not a lattice type.</summary>
    public static LatticeFormat? For(GgmlType type) => type switch
    {
        GgmlType.IQ2_XS => Iq2Xs,
        GgmlType.IQ2_S => Iq2S,
        GgmlType.IQ3_XXS => Iq3Xxs,
        GgmlType.IQ3_S => Iq3S,
        _ => null,
    };

    /// <summary>The multiplier of grid values for scale code <paramref name="s"/> (0–15) and block scale <paramref name="d"/>.</summary>
    public float GroupScale(float d, int s) => Type switch
    {
        // The same products, in the same order, as ggml's dequantizers, so the search sees exactly the decoded values.
        GgmlType.IQ3_S => d * (1 + (2 * s)),
        _ => d * (0.5f + s) * Alpha,
    };

    /// <summary>Writes one block: <paramref name="d"/>, the 4-bit <paramref name="scales"/> (one per
    /// <see cref="ScaleSpan"/>), the grid <paramref name="entries"/> (one per <see cref="EntryWidth"/> weights) and one
    /// sign byte per group (bit j set = weight j negative; with <see cref="SignParity"/> its count must be even).</summary>
    public void Pack(Span<byte> block, Half d, ReadOnlySpan<int> scales, ReadOnlySpan<int> entries, ReadOnlySpan<byte> signs)
    {
        block[..BlockBytes].Clear();
        BinaryPrimitives.WriteHalfLittleEndian(block, d);
        Span<byte> q = block[2..];
        switch (Type)
        {
            case GgmlType.IQ2_XS:
                for (int g = 0; g < 32; g++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(q[(2 * g)..], (ushort)(entries[g] | ((signs[g] & 127) << 9)));
                }

                for (int b = 0; b < 8; b++)
                {
                    q[64 + b] = (byte)(scales[2 * b] | (scales[(2 * b) + 1] << 4));
                }

                break;
            case GgmlType.IQ2_S:
                for (int g = 0; g < 32; g++)
                {
                    q[g] = (byte)entries[g];
                    q[64 + (g / 4)] |= (byte)(((entries[g] >> 8) & 3) << (2 * (g % 4)));
                    q[32 + g] = signs[g];
                }

                for (int b = 0; b < 8; b++)
                {
                    q[72 + b] = (byte)(scales[2 * b] | (scales[(2 * b) + 1] << 4));
                }

                break;
            case GgmlType.IQ3_XXS:
                for (int k = 0; k < 64; k++)
                {
                    q[k] = (byte)entries[k];
                }

                for (int b = 0; b < 8; b++)
                {
                    uint packed = (uint)scales[b] << 28;
                    for (int l = 0; l < 4; l++)
                    {
                        packed |= (uint)(signs[(4 * b) + l] & 127) << (7 * l);
                    }

                    BinaryPrimitives.WriteUInt32LittleEndian(q[(64 + (4 * b))..], packed);
                }

                break;
            default: // IQ3_S
                for (int k = 0; k < 64; k++)
                {
                    q[k] = (byte)entries[k];
                    q[64 + (k / 8)] |= (byte)(((entries[k] >> 8) & 1) << (k % 8));
                }

                signs[..32].CopyTo(q[72..]);
                for (int b = 0; b < 8; b++)
                {
                    q[104 + (b / 2)] |= (byte)(scales[b] << (4 * (b % 2)));
                }

                break;
        }
    }
}
