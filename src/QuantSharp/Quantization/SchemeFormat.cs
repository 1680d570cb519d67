using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization;

/// <summary>The families of QuantSharp's own weight formats: each has one name grammar, one set of parameters and
/// one kernel class; the kinds of a family differ only in data (code width, code book, grid).</summary>
internal enum SchemeFamily
{
    /// <summary>8-bit symmetric per-row absmax: <c>int8</c>.</summary>
    Int8,

    /// <summary>Integer grids per group of inputs, symmetric or with zero points: <c>int4-g128-asym</c>.</summary>
    IntGroup,

    /// <summary>bitsandbytes 4-bit code books per block of 64, optional double quantization: <c>nf4-dq</c>.</summary>
    FourBitFloat,

    /// <summary>{−1, 0, +1} with an absmean scale per tensor, row or group: <c>ternary-g64</c>.</summary>
    Ternary,

    /// <summary>llama.cpp's lattice codebooks in fixed 256-weight blocks: <c>iq2_xs</c>.</summary>
    Lattice,
}

/// <summary>
/// One QuantSharp weight format, registered once in <see cref="All"/> (as ggml's <c>type_traits</c> table does): the
/// scheme id stored in <c>qmeta</c>, its name, code width, family (name grammar, parameters and kernel), default group
/// size and quantizer. Scheme names are parsed and printed, stored ids read, quantizers found and the list of known
/// schemes made through it, so a new format of an existing family is one row here and one enum value.
/// </summary>
internal sealed class SchemeFormat
{
    private readonly GgmlType? _gguf;

    private SchemeFormat(QuantSchemeKind kind, string name, int bits, SchemeFamily family, int defaultGroupSize, Func<QuantSpec, IQuantScheme> scheme, GgmlType? gguf = null)
    {
        _gguf = gguf;
        Kind = kind;
        Name = name;
        Bits = bits;
        Family = family;
        DefaultGroupSize = defaultGroupSize;
        CreateScheme = scheme;
    }

    /// <summary>The scheme id (stored in <c>qmeta</c>; never changes).</summary>
    public QuantSchemeKind Kind { get; }

    /// <summary>Lower-case name on the command line and the head of the canonical name: <c>int4</c>, <c>iq2_xs</c>.</summary>
    public string Name { get; }

    /// <summary>Bits per stored weight code, excluding scales.</summary>
    public int Bits { get; }

    /// <summary>Name grammar, parameters and kernel class.</summary>
    public SchemeFamily Family { get; }

    /// <summary>Inputs per scale when none is given: the group of the group-wise forms, the NF4/FP4 block, the
    /// lattice block.</summary>
    public int DefaultGroupSize { get; }

    /// <summary>The round-to-nearest quantizer of a spec of this format.</summary>
    public Func<QuantSpec, IQuantScheme> CreateScheme { get; }

    /// <summary>llama.cpp's type for the same weights, for side-by-side runs: the same grid where one exists (int4-g32-sym
    /// is Q4_0, see <see cref="IsQ4_0Grid"/>; the lattice formats store GGUF blocks), else the nearest type of the same
    /// size (Q4_K for the other 4-bit formats); null where llama.cpp has none.</summary>
    public GgmlType? GgufPeer(QuantSpec spec) => IsQ4_0Grid(spec) ? GgmlType.Q4_0 : _gguf;

    /// <summary>True when <paramref name="spec"/> is llama.cpp's Q4_0 grid: int4, symmetric, groups of 32 (an F16 scale
    /// per 32 weights, codes q meaning (q − 8)·scale), so a row of whole groups repacks into Q4_0 blocks losslessly.</summary>
    public static bool IsQ4_0Grid(QuantSpec spec) => spec.Kind == QuantSchemeKind.Int4 && spec.Symmetric && spec.GroupSize == 32;

    /// <summary>Every format, in scheme-id order.</summary>
    public static IReadOnlyList<SchemeFormat> All { get; } =
    [
        new(QuantSchemeKind.Int8, "int8", 8, SchemeFamily.Int8, 0, _ => new Int8Scheme(), GgmlType.Q8_0),
        new(QuantSchemeKind.Int4, "int4", 4, SchemeFamily.IntGroup, QuantSpec.DefaultGroupSize, s => new Int4Scheme(s), GgmlType.Q4_K),
        new(QuantSchemeKind.Nf4, "nf4", 4, SchemeFamily.FourBitFloat, QuantSpec.FourBitFloatBlock, s => new FourBitFloatScheme(s), GgmlType.Q4_K),
        new(QuantSchemeKind.Fp4, "fp4", 4, SchemeFamily.FourBitFloat, QuantSpec.FourBitFloatBlock, s => new FourBitFloatScheme(s)),
        new(QuantSchemeKind.Ternary, "ternary", 2, SchemeFamily.Ternary, QuantSpec.DefaultGroupSize, s => new TernaryScheme(s), GgmlType.TQ2_0),
        new(QuantSchemeKind.Int3, "int3", 3, SchemeFamily.IntGroup, QuantSpec.DefaultGroupSize, s => new IntGroupScheme(s)),
        new(QuantSchemeKind.Int2, "int2", 2, SchemeFamily.IntGroup, QuantSpec.DefaultInt2GroupSize, s => new IntGroupScheme(s)),
        Lattice(LatticeFormat.Iq2Xs, 2),
        Lattice(LatticeFormat.Iq2S, 2),
        Lattice(LatticeFormat.Iq3Xxs, 3),
        Lattice(LatticeFormat.Iq3S, 3),
    ];

    private static readonly SchemeFormat?[] s_byKind = ByKind();

    /// <summary>The name grammar of every family, for error messages: <c>int8, int4|int3|int2[-gN][-sym|-asym], …</c>.</summary>
    public static string KnownNames { get; } = string.Join(", ", All.GroupBy(f => f.Family).Select(g => g.Key switch
    {
        SchemeFamily.IntGroup => string.Join('|', g.Select(f => f.Name)) + "[-gN][-sym|-asym]",
        SchemeFamily.FourBitFloat => string.Join(", ", g.Select(f => f.Name + "[-dq]")),
        SchemeFamily.Ternary => string.Join(", ", g.Select(f => f.Name + "[-tensor|-row|-gN]")),
        _ => string.Join(", ", g.Select(f => f.Name)),
    }));

    /// <summary>The format with scheme id <paramref name="kind"/>, or null for an unknown id (an array lookup: every
    /// <see cref="QuantSpec.Bits"/> or <see cref="QuantSpec.IsIntGroup"/> in a quantizer's inner loops comes here).</summary>
    public static SchemeFormat? For(QuantSchemeKind kind) => (uint)kind < (uint)s_byKind.Length ? s_byKind[(int)kind] : null;

    /// <summary>The format named <paramref name="name"/> (lower-case), or null.</summary>
    public static SchemeFormat? Named(string name) => All.FirstOrDefault(f => f.Name == name);

    private static SchemeFormat?[] ByKind()
    {
        var byKind = new SchemeFormat?[All.Max(f => (int)f.Kind) + 1];
        foreach (SchemeFormat f in All)
        {
            byKind[(int)f.Kind] = f;
        }

        return byKind;
    }

    private static SchemeFormat Lattice(LatticeFormat lattice, int bits)
        => new(lattice.Kind, lattice.Name, bits, SchemeFamily.Lattice, LatticeFormat.BlockWeights, s => new LatticeScheme(s), lattice.Type);
}
