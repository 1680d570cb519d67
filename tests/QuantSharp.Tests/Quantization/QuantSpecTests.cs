using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

public class QuantSpecTests
{
    [Theory]
    [InlineData("int8", null, false, false, "int8")]
    [InlineData("INT4", null, false, false, "int4-g128-asym")]
    [InlineData("int4", 32, true, false, "int4-g32-sym")]
    [InlineData("int4", 64, false, false, "int4-g64-asym")]
    [InlineData("nf4", null, false, false, "nf4")]
    [InlineData("nf4", null, false, true, "nf4-dq")]
    [InlineData("fp4", null, false, true, "fp4-dq")]
    [InlineData("ternary", null, false, false, "ternary-row")]
    [InlineData("ternary", 64, false, false, "ternary-g64")]
    [InlineData("ternary-tensor", null, false, false, "ternary-tensor")]
    public void Parse_ResolvesOptions(string scheme, int? group, bool sym, bool dq, string expected)
    {
        QuantSpec spec = QuantSpec.Parse(scheme, group, sym, dq);
        Assert.Equal(expected, spec.Name);
        Assert.Equal(spec, QuantSpec.ParseName(spec.Name));
    }

    [Fact]
    public void Bits_PerScheme()
    {
        Assert.Equal(8, QuantSpec.Int8().Bits);
        Assert.Equal(4, QuantSpec.Int4().Bits);
        Assert.Equal(4, QuantSpec.FourBitFloat(true).Bits);
        Assert.Equal(2, QuantSpec.Ternary().Bits);
        Assert.Equal(128, QuantSpec.Int4().GroupSize);
        Assert.False(QuantSpec.Int4().Symmetric);
    }

    [Theory]
    [InlineData("int5")]
    [InlineData("q4_0")]
    [InlineData("")]
    [InlineData("int4-g48")]
    [InlineData("int4-g0")]
    [InlineData("nf4-g32")]
    [InlineData("ternary-gx")]
    public void UnknownOrInvalidScheme_ClearError(string name)
    {
        var e = Assert.Throws<QuantSharpException>(() => QuantSpec.Parse(name));
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void OptionsThatDoNotApply_AreRejected()
    {
        Assert.Contains("--group-size", Assert.Throws<QuantSharpException>(() => QuantSpec.Parse("int8", 32)).Message);
        Assert.Contains("--group-size", Assert.Throws<QuantSharpException>(() => QuantSpec.Parse("nf4", 32)).Message);
        Assert.Contains("--sym", Assert.Throws<QuantSharpException>(() => QuantSpec.Parse("nf4", symmetric: true)).Message);
        Assert.Contains("--double-quant", Assert.Throws<QuantSharpException>(() => QuantSpec.Parse("int4", doubleQuant: true)).Message);
        Assert.Contains("group size 100", Assert.Throws<QuantSharpException>(() => QuantSpec.Parse("int4", 100)).Message);
    }

    [Fact]
    public void Factories_SetEveryField()
    {
        AssertSpec(QuantSpec.Int8(), QuantSchemeKind.Int8, 0, symmetric: true, doubleQuant: false, TernaryGranularity.PerRow);
        AssertSpec(QuantSpec.Int4(64, symmetric: true), QuantSchemeKind.Int4, 64, symmetric: true, doubleQuant: false, TernaryGranularity.PerRow);
        AssertSpec(QuantSpec.Int3(32), QuantSchemeKind.Int3, 32, symmetric: false, doubleQuant: false, TernaryGranularity.PerRow);
        AssertSpec(QuantSpec.Int2(), QuantSchemeKind.Int2, 64, symmetric: false, doubleQuant: false, TernaryGranularity.PerRow);
        AssertSpec(QuantSpec.FourBitFloat(fp4: false), QuantSchemeKind.Nf4, 64, symmetric: true, doubleQuant: false, TernaryGranularity.PerRow);
        AssertSpec(QuantSpec.FourBitFloat(fp4: true, doubleQuant: true), QuantSchemeKind.Fp4, 64, symmetric: true, doubleQuant: true, TernaryGranularity.PerRow);
        AssertSpec(QuantSpec.Ternary(), QuantSchemeKind.Ternary, 0, symmetric: true, doubleQuant: false, TernaryGranularity.PerRow);
        AssertSpec(QuantSpec.Ternary(TernaryGranularity.PerTensor), QuantSchemeKind.Ternary, 0, symmetric: true, doubleQuant: false, TernaryGranularity.PerTensor);
        AssertSpec(QuantSpec.Ternary(TernaryGranularity.PerGroup, 96), QuantSchemeKind.Ternary, 96, symmetric: true, doubleQuant: false, TernaryGranularity.PerGroup);
    }

    [Theory]
    [InlineData("int4", 48)]
    [InlineData("int3", 100)]
    [InlineData("int2", 0)]
    [InlineData("int2", 4128)]
    [InlineData("ternary", -32)]
    public void BadGroupSize_NamesTheScheme(string scheme, int group)
    {
        Func<QuantSpec> make = scheme switch
        {
            "int4" => () => QuantSpec.Int4(group),
            "int3" => () => QuantSpec.Int3(group),
            "int2" => () => QuantSpec.Int2(group),
            _ => () => QuantSpec.Ternary(TernaryGranularity.PerGroup, group),
        };
        string message = Assert.Throws<QuantSharpException>(() => make()).Message;
        Assert.StartsWith(scheme + ": group size " + group, message, StringComparison.Ordinal);
    }

    [Fact]
    public void GroupSizeLimits_AreInclusive()
    {
        Assert.Equal(4096, QuantSpec.Int4(4096).GroupSize);
        Assert.Equal(32, QuantSpec.Int2(32).GroupSize);
        Assert.Equal("int4-g4096-asym", QuantSpec.ParseName("int4-g4096").Name);
    }

    [Fact]
    public void UnknownTernaryGranularity_IsRejected()
        => Assert.Contains("granularity 7", Assert.Throws<QuantSharpException>(() => QuantSpec.Ternary((TernaryGranularity)7)).Message);

    [Theory]
    [InlineData("int2", "int2-g64-asym")]
    [InlineData("int3", "int3-g128-asym")]
    [InlineData("int3-g32-sym", "int3-g32-sym")]
    [InlineData("int2-sym-g128", "int2-g128-sym")]
    [InlineData("int4-asym", "int4-g128-asym")]
    [InlineData(" Ternary-G64 ", "ternary-g64")]
    public void ParseName_Defaults(string name, string expected) => Assert.Equal(expected, QuantSpec.ParseName(name).Name);

    [Theory]
    [InlineData("int4-x32")]
    [InlineData("int4-g")]
    [InlineData("int4-g-32")]
    [InlineData("int8-g32")]
    [InlineData("ternary-row-g32")]
    [InlineData("nf4-dq-dq")]
    public void ParseName_RejectsMalformedParts(string name)
        => Assert.Contains("unknown quantization scheme", Assert.Throws<QuantSharpException>(() => QuantSpec.ParseName(name)).Message);

    [Fact]
    public void Parse_CombinesOptionsWithTheBaseName()
    {
        // int3/int2 keep the name's group and symmetry unless an option overrides them.
        Assert.Equal("int3-g32-sym", QuantSpec.Parse("int3-g32-sym").Name);
        Assert.Equal("int3-g64-sym", QuantSpec.Parse("int3-g32", 64, symmetric: true).Name);
        Assert.Equal("int2-g32-sym", QuantSpec.Parse("int2-g32-sym", symmetric: false).Name);
        Assert.Equal("int2-g128-asym", QuantSpec.Parse("int2", 128).Name);
        // ternary: a group size alone selects per-group; an explicit granularity wins; a per-group name keeps its group.
        Assert.Equal("ternary-g64", QuantSpec.Parse("ternary-tensor", 64).Name);
        Assert.Equal("ternary-tensor", QuantSpec.Parse("ternary-g64", granularity: TernaryGranularity.PerTensor).Name);
        Assert.Equal("ternary-g128", QuantSpec.Parse("ternary", granularity: TernaryGranularity.PerGroup).Name);
        Assert.Equal("ternary-g64", QuantSpec.Parse("ternary-g64", granularity: TernaryGranularity.PerGroup).Name);
        Assert.Equal("ternary-g64", QuantSpec.Parse("ternary-g64").Name);
        Assert.Equal("ternary-row", QuantSpec.Parse("ternary-row").Name);
    }

    [Fact]
    public void Parse_RejectsGranularityOnOtherSchemesAndNullNames()
    {
        Assert.Contains("granularity does not apply to scheme 'int4'", Assert.Throws<QuantSharpException>(() => QuantSpec.Parse("int4", granularity: TernaryGranularity.PerRow)).Message);
        Assert.Throws<ArgumentNullException>(() => QuantSpec.Parse(null!));
        Assert.Throws<ArgumentNullException>(() => QuantSpec.ParseName(null!));
    }

    private static void AssertSpec(QuantSpec spec, QuantSchemeKind kind, int group, bool symmetric, bool doubleQuant, TernaryGranularity granularity)
    {
        Assert.Equal(kind, spec.Kind);
        Assert.Equal(group, spec.GroupSize);
        Assert.Equal(symmetric, spec.Symmetric);
        Assert.Equal(doubleQuant, spec.DoubleQuant);
        Assert.Equal(granularity, spec.Granularity);
    }
}
