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
}
