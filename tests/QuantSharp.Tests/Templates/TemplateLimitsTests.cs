using QuantSharp.Templates;

namespace QuantSharp.Tests.Templates;

/// <summary>A template is code from a downloaded file: parse errors are precise and every resource is bounded.</summary>
public class TemplateLimitsTests
{
    private static ChatTemplateException Fails(string source) =>
        Assert.Throws<ChatTemplateException>(() => TemplateEngineTests.Render(source));

    [Theory]
    [InlineData("{{ x | frobnicate }}", "t:1:8: no filter named 'frobnicate'")]
    [InlineData("{{ x is frobnicated }}", "t:1:9: no test named 'frobnicated'")]
    [InlineData("{% frob %}", "t:1:4: unknown tag 'frob'")]
    [InlineData("{% if x %}abc", "t:1:4: unexpected end of template: 'if' is never closed; expected 'elif' or 'else' or 'endif'")]
    [InlineData("{% for x in y %}abc{% endif %}", "t:1:23: unexpected 'endif' inside 'for' block")]
    [InlineData("{{ 'abc }}", "t:1:4: unterminated string literal")]
    [InlineData("{# abc", "t:1:1: missing end of comment tag '#}'")]
    [InlineData("{{ x + }}", "t:1:8: unexpected end of print statement")]
    [InlineData("{% include 'x' %}", "t:1:4: the 'include' tag is not supported in chat templates")]
    [InlineData("{% break %}", "t:1:4: 'break' outside of a loop")]
    [InlineData("{{ 0x8000000000000000 }}", "t:1:4: integer literal 0x8000000000000000 is too large")]
    [InlineData("{{ 0b11111111111111111111111111111111111111111111111111111111111111111 }}", "t:1:4: integer literal 0b11111111111111111111111111111111111111111111111111111111111111111 is too large")]
    [InlineData("{{ 99999999999999999999 }}", "t:1:4: integer literal 99999999999999999999 is too large")]
    public void ParseErrors(string source, string message)
    {
        Assert.Equal(message, Fails(source).Message);
    }

    [Fact]
    public void LargestRadixLiteralsStillParse()
    {
        Assert.Equal("9223372036854775807 9223372036854775807 511", TemplateEngineTests.Render("{{ 0x7FFF_FFFF_FFFF_FFFF }} {{ 0o777777777777777777777 }} {{ 0o777 }}"));
    }

    [Fact]
    public void HugeLoopsStopAtTheIterationLimit()
    {
        Assert.Contains("loop iterations", Fails("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}").Message);
    }

    [Fact]
    public void ExponentialMacroRecursionStopsAtTheIterationLimit()
    {
        Assert.Contains("loop iterations and macro calls",
            Fails("{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}").Message);
    }

    [Fact]
    public void InfiniteMacroRecursionStopsAtTheDepthLimit()
    {
        Assert.Contains("calls nest deeper than 64 levels", Fails("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").Message);
    }

    [Theory]
    [InlineData("{{ 'a' * 100000000 }}")]
    [InlineData("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")]
    [InlineData("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}")]
    [InlineData("{{ 'x'.center(100000000) }}")]
    [InlineData("{{ 'ab'.replace('a', 'a' * 1000)|replace('a', 'a' * 10000) }}")]
    [InlineData("{{ '%100000000s' % 'x' }}")]
    public void StringGrowthStopsAtTheSizeLimit(string source)
    {
        Assert.Contains("exceeds the limit of 8388608 characters", Fails(source).Message);
    }

    [Fact]
    public void ListGrowthStopsAtTheSizeLimit()
    {
        Assert.Contains("exceeds the limit of 1000000 items",
            Fails("{% set ns = namespace(s=[1]) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}").Message);
    }

    [Fact]
    public void OutputStopsAtTheSizeLimit()
    {
        Assert.Contains("rendered output exceeds the limit", Fails("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}").Message);
    }

    [Fact]
    public void RangesLargerThanTheSandboxAllowsAreRefused()
    {
        Assert.Contains("Range too big", Fails("{{ range(200000)|length }}").Message);
    }

    [Theory]
    [InlineData("(", ")", 100_000)]
    [InlineData("[", "]", 300)]
    [InlineData("not ", "", 5_000)]
    [InlineData("- ", "", 5_000)]
    public void DeeplyNestedExpressionsAreRejectedWithoutStackOverflow(string open, string close, int depth)
    {
        string source = "{{ " + string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth)) + " }}";
        Assert.Contains("expression nests deeper than 256 levels", Fails(source).Message);
    }

    [Fact]
    public void LongOperatorChainsAreRejectedButNormalOnesWork()
    {
        Assert.Contains("nests deeper", Fails("{{ " + string.Join("+", Enumerable.Repeat("1", 100_000)) + " }}").Message);
        Assert.Contains("nests deeper", Fails("{{ x" + string.Concat(Enumerable.Repeat("|trim", 1000)) + " }}").Message);
        Assert.Equal("200", TemplateEngineTests.Render("{{ " + string.Join("+", Enumerable.Repeat("1", 200)) + " }}"));
    }

    [Fact]
    public void DeeplyNestedBlocksAreRejected()
    {
        Assert.Contains("blocks nest deeper than 256 levels",
            Fails(string.Concat(Enumerable.Repeat("{% if true %}", 10_000)) + "x" + string.Concat(Enumerable.Repeat("{% endif %}", 10_000))).Message);
        Assert.Equal("x", TemplateEngineTests.Render(string.Concat(Enumerable.Repeat("{% if true %}", 200)) + "x" + string.Concat(Enumerable.Repeat("{% endif %}", 200))));
    }

    [Fact]
    public void SelfReferencingNamespaceCannotRecurseForever()
    {
        Assert.Contains("recursion", Fails("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns }}").Message);
    }
}
