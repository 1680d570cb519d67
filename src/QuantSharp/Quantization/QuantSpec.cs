using System.Globalization;

namespace QuantSharp.Quantization;

/// <summary>
/// A fully resolved quantization choice: scheme plus its parameters. Build one with <see cref="Parse(string, int?, bool, bool, TernaryGranularity?)"/>
/// (CLI options) or <see cref="ParseName"/> (the canonical <see cref="Name"/>, e.g. <c>int4-g128-asym</c>).
/// </summary>
public sealed record QuantSpec
{
    /// <summary>Default group size of int4 and of per-group ternary.</summary>
    public const int DefaultGroupSize = 128;

    /// <summary>NF4/FP4 block size (bitsandbytes' default).</summary>
    public const int FourBitFloatBlock = 64;

    /// <summary>Double-quantization block size over the absmax values (as bitsandbytes).</summary>
    public const int DoubleQuantBlock = 256;

    private QuantSpec(QuantSchemeKind kind, int groupSize, bool symmetric, bool doubleQuant, TernaryGranularity granularity)
    {
        Kind = kind;
        GroupSize = groupSize;
        Symmetric = symmetric;
        DoubleQuant = doubleQuant;
        Granularity = granularity;
    }

    /// <summary>The scheme.</summary>
    public QuantSchemeKind Kind { get; }

    /// <summary>Inputs per scale: int4 group, NF4/FP4 block (64), ternary group (per-group only); 0 where the scale spans a whole row or tensor.</summary>
    public int GroupSize { get; }

    /// <summary>int4 only: true = no zero point (code 8 is zero), false = zero point per group. int8 and ternary are always symmetric.</summary>
    public bool Symmetric { get; }

    /// <summary>NF4/FP4 only: absmax values quantized to 8 bits in blocks of 256.</summary>
    public bool DoubleQuant { get; }

    /// <summary>Ternary only: which weights share a scale.</summary>
    public TernaryGranularity Granularity { get; }

    /// <summary>Bits per stored weight code (8, 4 or 2), excluding scales.</summary>
    public int Bits => Format.Bits;

    /// <summary>Lower-case scheme name as used on the command line: int8, int4, nf4, fp4, ternary, iq2_xs, ….</summary>
    public string SchemeName => Format.Name;

    /// <summary>The format's registered descriptor.</summary>
    internal SchemeFormat Format => SchemeFormat.For(Kind)!;

    /// <summary>llama.cpp's type for the same weights (<see cref="SchemeFormat.GgufPeer"/>), or null.</summary>
    internal Formats.Gguf.GgmlType? GgufPeer => Format.GgufPeer(this);

    /// <summary>Canonical name, round-tripped by <see cref="ParseName"/>: <c>int8</c>, <c>int4-g128-sym</c>,
    /// <c>int4-g32-asym</c>, <c>nf4</c>, <c>nf4-dq</c>, <c>fp4</c>, <c>ternary-tensor</c>, <c>ternary-row</c>, <c>ternary-g64</c>.</summary>
    public string Name => Format.Family switch
    {
        SchemeFamily.IntGroup => $"{SchemeName}-g{GroupSize}-{(Symmetric ? "sym" : "asym")}",
        SchemeFamily.FourBitFloat => SchemeName + (DoubleQuant ? "-dq" : ""),
        SchemeFamily.Ternary => Granularity switch
        {
            TernaryGranularity.PerTensor => $"{SchemeName}-tensor",
            TernaryGranularity.PerRow => $"{SchemeName}-row",
            _ => $"{SchemeName}-g{GroupSize}",
        },
        _ => SchemeName,
    };

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>int8: symmetric per-row absmax.</summary>
    public static QuantSpec Int8() => new(QuantSchemeKind.Int8, 0, true, false, TernaryGranularity.PerRow);

    /// <summary>int4 with <paramref name="groupSize"/> inputs per group (a positive multiple of 32, at most 4096).</summary>
    public static QuantSpec Int4(int groupSize = DefaultGroupSize, bool symmetric = false) => IntGroup(QuantSchemeKind.Int4, groupSize, symmetric);

    /// <summary>int3 (<see cref="IntGroupScheme"/>) with <paramref name="groupSize"/> inputs per group (a positive multiple of 32, at most 4096).</summary>
    public static QuantSpec Int3(int groupSize = DefaultGroupSize, bool symmetric = false) => IntGroup(QuantSchemeKind.Int3, groupSize, symmetric);

    /// <summary>int2 (<see cref="IntGroupScheme"/>) with <paramref name="groupSize"/> inputs per group (a positive multiple of 32, at most 4096).</summary>
    public static QuantSpec Int2(int groupSize = DefaultInt2GroupSize, bool symmetric = false) => IntGroup(QuantSchemeKind.Int2, groupSize, symmetric);

    private static QuantSpec IntGroup(QuantSchemeKind kind, int groupSize, bool symmetric)
    {
        CheckGroup(groupSize, SchemeFormat.For(kind)!.Name);
        return new(kind, groupSize, symmetric, false, TernaryGranularity.PerRow);
    }

    /// <summary>Group size int2 takes when none is given (2-bit codes need smaller groups than 3 and 4 bits).</summary>
    public const int DefaultInt2GroupSize = 64;

    /// <summary>
    /// The spec of <paramref name="kind"/> with the stored parameters that apply to it (the one place a stored scheme id
    /// and its parameters become a spec: a weight's <c>qmeta</c>, a <c>quantization_config</c> entry). Parameters that do
    /// not apply to the kind are ignored; those that do are validated.
    /// </summary>
    /// <exception cref="QuantSharpException">An unknown scheme id, or a parameter out of range.</exception>
    public static QuantSpec FromParts(QuantSchemeKind kind, int groupSize, bool symmetric, bool doubleQuant, TernaryGranularity granularity)
        => SchemeFormat.For(kind)?.Family switch
        {
            SchemeFamily.Int8 => Int8(),
            SchemeFamily.IntGroup => IntGroup(kind, groupSize, symmetric),
            SchemeFamily.FourBitFloat => FourBitFloat(kind == QuantSchemeKind.Fp4, doubleQuant),
            SchemeFamily.Ternary => Ternary(granularity, groupSize),
            SchemeFamily.Lattice => Lattice(kind),
            _ => throw new QuantSharpException($"unknown scheme id {(int)kind}"),
        };

    /// <summary>A lattice codebook scheme (<see cref="LatticeScheme"/>): <see cref="QuantSchemeKind.Iq2Xs"/>,
    /// <see cref="QuantSchemeKind.Iq2S"/>, <see cref="QuantSchemeKind.Iq3Xxs"/> or <see cref="QuantSchemeKind.Iq3S"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="kind"/> is not a lattice kind.</exception>
    public static QuantSpec Lattice(QuantSchemeKind kind)
        => LatticeFormat.For(kind) is not null ? new(kind, LatticeFormat.BlockWeights, true, false, TernaryGranularity.PerRow)
            : throw new ArgumentException($"{kind} is not a lattice scheme", nameof(kind));

    /// <summary>
    /// The scheme a weight with rows of <paramref name="cols"/> inputs is stored in: this one, except that the lattice
    /// schemes need whole 256-weight blocks and other rows take int4-g32-sym (llama.cpp's Q4_0 grid, exported as Q4_0
    /// losslessly), as llama-quantize falls back for such rows. <c>quantization_config</c> then lists each module's scheme.
    /// </summary>
    public QuantSpec FitRowLength(long cols) => IsLattice && cols % LatticeFormat.BlockWeights != 0 ? Int4(32, symmetric: true) : this;

    /// <summary>True for the lattice codebook schemes (iq2_xs, iq2_s, iq3_xxs, iq3_s).</summary>
    public bool IsLattice => Format.Family == SchemeFamily.Lattice;

    /// <summary>True for the integer-grid group schemes (int4, int3, int2) that GPTQ and AWQ produce.</summary>
    public bool IsIntGroup => Format.Family == SchemeFamily.IntGroup;

    /// <summary>NF4 (<paramref name="fp4"/> false) or FP4, blocks of 64, optional double quantization.</summary>
    public static QuantSpec FourBitFloat(bool fp4, bool doubleQuant = false)
        => new(fp4 ? QuantSchemeKind.Fp4 : QuantSchemeKind.Nf4, FourBitFloatBlock, true, doubleQuant, TernaryGranularity.PerRow);

    /// <summary>Ternary with the given scale granularity; <paramref name="groupSize"/> is used for <see cref="TernaryGranularity.PerGroup"/> only.</summary>
    public static QuantSpec Ternary(TernaryGranularity granularity = TernaryGranularity.PerRow, int groupSize = DefaultGroupSize)
    {
        if (granularity == TernaryGranularity.PerGroup)
        {
            CheckGroup(groupSize, "ternary");
            return new(QuantSchemeKind.Ternary, groupSize, true, false, granularity);
        }

        if (!Enum.IsDefined(granularity))
        {
            throw new QuantSharpException($"ternary: unknown scale granularity {(int)granularity}");
        }

        return new(QuantSchemeKind.Ternary, 0, true, false, granularity);
    }

    /// <summary>
    /// Resolves command-line options: <paramref name="scheme"/> is <c>int8</c>, <c>int4</c>, <c>nf4</c>, <c>fp4</c> or
    /// <c>ternary</c> (case-insensitive), or any canonical <see cref="Name"/>. <paramref name="groupSize"/> applies to
    /// int4 and per-group ternary (setting it on ternary without a granularity selects per-group); <paramref name="symmetric"/>
    /// to int4; <paramref name="doubleQuant"/> to nf4/fp4.
    /// </summary>
    /// <exception cref="QuantSharpException">Unknown scheme, or an option that does not apply to it, or a bad group size.</exception>
    public static QuantSpec Parse(string scheme, int? groupSize = null, bool symmetric = false, bool doubleQuant = false, TernaryGranularity? granularity = null)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        QuantSpec baseSpec = ParseName(scheme);
        string s = baseSpec.SchemeName;
        if (baseSpec.IsLattice && (groupSize is not null || symmetric || doubleQuant || granularity is not null))
        {
            throw new QuantSharpException($"--group-size, --sym, --double-quant and a ternary granularity do not apply to scheme '{s}' (fixed blocks of 256)");
        }

        SchemeFamily family = baseSpec.Format.Family;
        if (groupSize is not null && family is not (SchemeFamily.IntGroup or SchemeFamily.Ternary))
        {
            throw new QuantSharpException($"--group-size does not apply to scheme '{s}' (int4, int3, int2 and ternary only; nf4/fp4 use blocks of {FourBitFloatBlock})");
        }

        if (symmetric && !baseSpec.IsIntGroup)
        {
            throw new QuantSharpException($"--sym does not apply to scheme '{s}' (int4, int3, int2 only; int8 and ternary are always symmetric)");
        }

        if (doubleQuant && family != SchemeFamily.FourBitFloat)
        {
            throw new QuantSharpException($"--double-quant does not apply to scheme '{s}' (nf4 and fp4 only)");
        }

        if (granularity is not null && family != SchemeFamily.Ternary)
        {
            throw new QuantSharpException($"a ternary scale granularity does not apply to scheme '{s}'");
        }

        return FromParts(
            baseSpec.Kind,
            groupSize ?? (baseSpec.GroupSize > 0 ? baseSpec.GroupSize : DefaultGroupSize),
            symmetric || baseSpec.Symmetric,
            doubleQuant || baseSpec.DoubleQuant,
            granularity ?? (groupSize is not null ? TernaryGranularity.PerGroup : baseSpec.Granularity));
    }

    /// <summary>Parses a scheme name: a bare scheme (<c>int4</c> = <c>int4-g128-asym</c>, <c>ternary</c> = <c>ternary-row</c>)
    /// or a canonical <see cref="Name"/>.</summary>
    /// <exception cref="QuantSharpException">The name is not a known scheme.</exception>
    public static QuantSpec ParseName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (TryParseName(name, out QuantSpec? spec, out string? problem))
        {
            return spec;
        }

        throw new QuantSharpException(problem);
    }

    private static bool TryParseName(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out QuantSpec? spec, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        spec = null;
        problem = null;
        string[] parts = name.Trim().ToLowerInvariant().Split('-');
        SchemeFormat? format = SchemeFormat.Named(parts[0]);
        try
        {
            spec = format?.Family switch
            {
                SchemeFamily.Int8 or SchemeFamily.Lattice when parts.Length == 1 => FromParts(format.Kind, format.DefaultGroupSize, true, false, TernaryGranularity.PerRow),
                SchemeFamily.IntGroup => ParseIntGroup(format, parts),
                SchemeFamily.FourBitFloat when parts.Length == 1 || (parts.Length == 2 && parts[1] == "dq") => FourBitFloat(format.Kind == QuantSchemeKind.Fp4, parts.Length == 2),
                SchemeFamily.Ternary when parts.Length <= 2 => ParseTernary(parts),
                _ => null,
            };
        }
        catch (QuantSharpException e)
        {
            problem = $"scheme '{name}': {e.Message}";
            return false;
        }

        problem = spec is null ? $"unknown quantization scheme '{name}' (known: {SchemeFormat.KnownNames})" : null;
        return spec is not null;
    }

    private static QuantSpec? ParseIntGroup(SchemeFormat format, string[] parts)
    {
        int group = format.DefaultGroupSize;
        bool sym = false;
        foreach (string p in parts.AsSpan(1))
        {
            if (p == "sym") { sym = true; }
            else if (p == "asym") { sym = false; }
            else if (TryGroup(p, out int g)) { group = g; }
            else { return null; }
        }

        return IntGroup(format.Kind, group, sym);
    }

    private static QuantSpec? ParseTernary(string[] parts)
    {
        if (parts.Length == 1 || parts[1] == "row") { return Ternary(TernaryGranularity.PerRow); }
        if (parts[1] == "tensor") { return Ternary(TernaryGranularity.PerTensor); }
        return TryGroup(parts[1], out int g) ? Ternary(TernaryGranularity.PerGroup, g) : null;
    }

    private static bool TryGroup(string part, out int group)
    {
        group = 0;
        return part.Length > 1 && part[0] == 'g' && int.TryParse(part.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out group);
    }

    private static void CheckGroup(int groupSize, string scheme)
    {
        if (groupSize <= 0 || groupSize % 32 != 0 || groupSize > 4096)
        {
            throw new QuantSharpException($"{scheme}: group size {groupSize} is not a positive multiple of 32 up to 4096 (use 32, 64 or 128)");
        }
    }
}
