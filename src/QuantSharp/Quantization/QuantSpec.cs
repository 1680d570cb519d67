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
    public int Bits => Kind switch
    {
        QuantSchemeKind.Int8 => 8,
        QuantSchemeKind.Ternary => 2,
        QuantSchemeKind.Int3 => 3,
        QuantSchemeKind.Int2 or QuantSchemeKind.Iq2Xs or QuantSchemeKind.Iq2S => 2,
        QuantSchemeKind.Iq3Xxs or QuantSchemeKind.Iq3S => 3,
        _ => 4,
    };

    /// <summary>Lower-case scheme name as used on the command line: int8, int4, nf4, fp4, ternary, iq2_xs, ….</summary>
    public string SchemeName => IsLattice ? LatticeFormat.For(Kind)!.Name : Kind.ToString().ToLowerInvariant();

    /// <summary>Canonical name, round-tripped by <see cref="ParseName"/>: <c>int8</c>, <c>int4-g128-sym</c>,
    /// <c>int4-g32-asym</c>, <c>nf4</c>, <c>nf4-dq</c>, <c>fp4</c>, <c>ternary-tensor</c>, <c>ternary-row</c>, <c>ternary-g64</c>.</summary>
    public string Name => Kind switch
    {
        QuantSchemeKind.Int8 => "int8",
        QuantSchemeKind.Int4 or QuantSchemeKind.Int3 or QuantSchemeKind.Int2 => $"{SchemeName}-g{GroupSize}-{(Symmetric ? "sym" : "asym")}",
        QuantSchemeKind.Nf4 or QuantSchemeKind.Fp4 => SchemeName + (DoubleQuant ? "-dq" : ""),
        _ when IsLattice => LatticeFormat.For(Kind)!.Name,
        _ => Granularity switch
        {
            TernaryGranularity.PerTensor => "ternary-tensor",
            TernaryGranularity.PerRow => "ternary-row",
            _ => $"ternary-g{GroupSize}",
        },
    };

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>int8: symmetric per-row absmax.</summary>
    public static QuantSpec Int8() => new(QuantSchemeKind.Int8, 0, true, false, TernaryGranularity.PerRow);

    /// <summary>int4 with <paramref name="groupSize"/> inputs per group (a positive multiple of 32, at most 4096).</summary>
    public static QuantSpec Int4(int groupSize = DefaultGroupSize, bool symmetric = false)
    {
        CheckGroup(groupSize, "int4");
        return new(QuantSchemeKind.Int4, groupSize, symmetric, false, TernaryGranularity.PerRow);
    }

    /// <summary>int3 (<see cref="IntGroupScheme"/>) with <paramref name="groupSize"/> inputs per group (a positive multiple of 32, at most 4096).</summary>
    public static QuantSpec Int3(int groupSize = DefaultGroupSize, bool symmetric = false)
    {
        CheckGroup(groupSize, "int3");
        return new(QuantSchemeKind.Int3, groupSize, symmetric, false, TernaryGranularity.PerRow);
    }

    /// <summary>int2 (<see cref="IntGroupScheme"/>) with <paramref name="groupSize"/> inputs per group (a positive multiple of 32, at most 4096).</summary>
    public static QuantSpec Int2(int groupSize = DefaultInt2GroupSize, bool symmetric = false)
    {
        CheckGroup(groupSize, "int2");
        return new(QuantSchemeKind.Int2, groupSize, symmetric, false, TernaryGranularity.PerRow);
    }

    /// <summary>Group size int2 takes when none is given (2-bit codes need smaller groups than 3 and 4 bits).</summary>
    public const int DefaultInt2GroupSize = 64;

    /// <summary>The default group size of <paramref name="kind"/>'s group-wise form.</summary>
    public static int DefaultGroupSizeOf(QuantSchemeKind kind) => kind == QuantSchemeKind.Int2 ? DefaultInt2GroupSize : DefaultGroupSize;

    /// <summary>
    /// The spec of <paramref name="kind"/> with the stored parameters that apply to it (the one place a stored scheme id
    /// and its parameters become a spec: a weight's <c>qmeta</c>, a <c>quantization_config</c> entry). Parameters that do
    /// not apply to the kind are ignored; those that do are validated.
    /// </summary>
    /// <exception cref="QuantSharpException">An unknown scheme id, or a parameter out of range.</exception>
    public static QuantSpec FromParts(QuantSchemeKind kind, int groupSize, bool symmetric, bool doubleQuant, TernaryGranularity granularity) => kind switch
    {
        QuantSchemeKind.Int8 => Int8(),
        QuantSchemeKind.Int4 => Int4(groupSize, symmetric),
        QuantSchemeKind.Int3 => Int3(groupSize, symmetric),
        QuantSchemeKind.Int2 => Int2(groupSize, symmetric),
        QuantSchemeKind.Nf4 => FourBitFloat(false, doubleQuant),
        QuantSchemeKind.Fp4 => FourBitFloat(true, doubleQuant),
        QuantSchemeKind.Ternary => Ternary(granularity, groupSize),
        _ when LatticeFormat.For(kind) is not null => Lattice(kind),
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
    public bool IsLattice => LatticeFormat.For(Kind) is not null;

    /// <summary>True for the integer-grid group schemes (int4, int3, int2) that GPTQ and AWQ produce.</summary>
    public bool IsIntGroup => Kind is QuantSchemeKind.Int4 or QuantSchemeKind.Int3 or QuantSchemeKind.Int2;

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

        if (groupSize is not null && !baseSpec.IsIntGroup && baseSpec.Kind != QuantSchemeKind.Ternary)
        {
            throw new QuantSharpException($"--group-size does not apply to scheme '{s}' (int4, int3, int2 and ternary only; nf4/fp4 use blocks of {FourBitFloatBlock})");
        }

        if (symmetric && !baseSpec.IsIntGroup)
        {
            throw new QuantSharpException($"--sym does not apply to scheme '{s}' (int4, int3, int2 only; int8 and ternary are always symmetric)");
        }

        if (doubleQuant && baseSpec.Kind is not (QuantSchemeKind.Nf4 or QuantSchemeKind.Fp4))
        {
            throw new QuantSharpException($"--double-quant does not apply to scheme '{s}' (nf4 and fp4 only)");
        }

        if (granularity is not null && baseSpec.Kind != QuantSchemeKind.Ternary)
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
        string head = parts[0];
        try
        {
            switch (head)
            {
                case "int8" when parts.Length == 1:
                    spec = Int8();
                    return true;
                case "int4" or "int3" or "int2":
                    {
                        int group = head == "int2" ? 64 : DefaultGroupSize;
                        bool sym = false;
                        foreach (string p in parts.AsSpan(1))
                        {
                            if (p == "sym") { sym = true; }
                            else if (p == "asym") { sym = false; }
                            else if (TryGroup(p, out int g)) { group = g; }
                            else { goto default; }
                        }

                        spec = head switch { "int4" => Int4(group, sym), "int3" => Int3(group, sym), _ => Int2(group, sym) };
                        return true;
                    }

                case "nf4" or "fp4" when parts.Length == 1 || (parts.Length == 2 && parts[1] == "dq"):
                    spec = FourBitFloat(head == "fp4", parts.Length == 2);
                    return true;
                case "ternary" when parts.Length <= 2:
                    {
                        if (parts.Length == 1 || parts[1] == "row") { spec = Ternary(TernaryGranularity.PerRow); return true; }
                        if (parts[1] == "tensor") { spec = Ternary(TernaryGranularity.PerTensor); return true; }
                        if (TryGroup(parts[1], out int g)) { spec = Ternary(TernaryGranularity.PerGroup, g); return true; }
                        goto default;
                    }

                case var _ when parts.Length == 1 && LatticeFormat.All.FirstOrDefault(f => f.Name == head) is LatticeFormat lattice:
                    spec = Lattice(lattice.Kind);
                    return true;
                default:
                    problem = $"unknown quantization scheme '{name}' (known: int8, int4|int3|int2[-gN][-sym|-asym], nf4[-dq], fp4[-dq], ternary[-tensor|-row|-gN], iq2_xs, iq2_s, iq3_xxs, iq3_s)";
                    return false;
            }
        }
        catch (QuantSharpException e)
        {
            problem = $"scheme '{name}': {e.Message}";
            return false;
        }
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
