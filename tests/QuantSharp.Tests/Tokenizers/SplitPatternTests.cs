using QuantSharp.Tokenizers;

namespace QuantSharp.Tests.Tokenizers;

/// <summary>A split pattern reports matches and the gaps between them in order, skips empty matches, and turns a
/// pathological pattern into an error instead of running for ever.</summary>
public class SplitPatternTests
{
    [Theory]
    [InlineData("   word", "  | word")]
    [InlineData("a  \t b", "a|  \t| b")]
    [InlineData("end   ", "end|   ")]
    [InlineData("x \n\n  y", "x| \n\n| | y")]
    public void TrailingSpaceIdiom_GivesBackTheLastSpaceBeforeAWord(string text, string expected)
        => Assert.Equal(expected, string.Join('|', Spans(SplitPattern.Compile(PreTokenizerPatterns.Llama3), text).Select(r => text.Substring(r.Start, r.Length))));

    [Fact]
    public void GapsBetweenMatches_AreReportedAsNonMatches()
        => Assert.Equal([(0, 2, false), (2, 3, true), (5, 1, false), (6, 1, true), (7, 2, false)], Spans(SplitPattern.Compile(@"\d+"), "ab123c4de"));

    [Fact]
    public void EmptyMatches_AreSkipped()
        => Assert.Equal([(0, 1, false), (1, 2, true), (3, 1, false)], Spans(SplitPattern.Compile(@"\d*"), "a12b"));

    [Fact]
    public void EmptyText_HasNoSpans() => Assert.Empty(Spans(SplitPattern.Compile(@"\w+"), ""));

    [Fact]
    public void MalformedPattern_IsAnArgumentError() => Assert.ThrowsAny<ArgumentException>(() => SplitPattern.Compile("(unclosed"));

    [Fact]
    public void PathologicalPattern_EndsInAnErrorNamingThePatternAndTheLimit()
    {
        // (a+)+$ backtracks exponentially on "aaa…ab"; the limit turns that into an error.
        var pattern = SplitPattern.Compile("(a+)+$", TimeSpan.FromMilliseconds(50));
        var e = Assert.Throws<QuantSharpException>(() => Spans(pattern, new string('a', 40) + "b"));
        Assert.Contains("(a+)+$", e.Message);
        Assert.Contains("0.05 s", e.Message);
    }

    private static List<(int Start, int Length, bool Match)> Spans(SplitPattern pattern, string text)
    {
        var spans = new List<(int, int, bool)>();
        pattern.ForEachRange(text, (start, length, match) => spans.Add((start, length, match)));
        return spans;
    }
}
