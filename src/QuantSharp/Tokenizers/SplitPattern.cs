using System.Text.RegularExpressions;

namespace QuantSharp.Tokenizers;

/// <summary>
/// A pre-tokenizer or normalizer regex as written in a tokenizer file or llama.cpp's pre-tokenizer lists, compiled with a
/// time limit: patterns come from downloaded files and texts from users, so a pathological pair must end in an error,
/// not run for ever.
/// </summary>
/// <remarks>
/// Patterns run on .NET's backtracking engine. The byte-level BPE patterns (GPT-2, Llama 3, Qwen2 and llama.cpp's lists)
/// have no nested quantifiers and run in time linear in the text (measured in docs/RESULTS.md, "Reliability").
/// <see cref="RegexOptions.NonBacktracking"/> would make any pattern linear, but .NET 10's engine misses matches of
/// simple patterns (<c> ?z</c> finds only the second <c>z</c> of <c>" $zz"</c>), so it would tokenize wrongly.
/// </remarks>
internal sealed class SplitPattern
{
    /// <summary>Time limit of one search for a match.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly Regex _regex;

    private SplitPattern(Regex regex) => _regex = regex;

    /// <summary>Compiles a pattern bounded by <see cref="Timeout"/>, or by <paramref name="timeout"/> when given.</summary>
    /// <exception cref="ArgumentException">The pattern is not a regex .NET accepts.</exception>
    public static SplitPattern Compile(string pattern, TimeSpan? timeout = null) => new(CompileRegex(pattern, timeout));

    /// <summary>The regex every tokenizer pattern becomes: culture-invariant, compiled, bounded by <see cref="Timeout"/>
    /// (or <paramref name="timeout"/>).</summary>
    /// <exception cref="ArgumentException">The pattern is not a regex .NET accepts.</exception>
    public static Regex CompileRegex(string pattern, TimeSpan? timeout = null)
        => new(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled, timeout ?? Timeout);

    /// <summary>Calls <paramref name="span"/> with (start, length, is a match) of every span of the text in order, matches
    /// and the gaps between them alike; empty matches are skipped.</summary>
    /// <exception cref="QuantSharpException">The pattern ran past <see cref="Timeout"/>.</exception>
    public void ForEachRange(string text, Action<int, int, bool> span)
    {
        int at = 0; // end of the last span reported
        try
        {
            foreach (ValueMatch m in _regex.EnumerateMatches(text))
            {
                if (m.Length == 0)
                {
                    continue;
                }

                if (m.Index > at)
                {
                    span(at, m.Index - at, false);
                }

                span(m.Index, m.Length, true);
                at = m.Index + m.Length;
            }
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new QuantSharpException($"pattern '{_regex}' took longer than {_regex.MatchTimeout.TotalSeconds:0.###} s on a {text.Length}-character text", e);
        }

        if (at < text.Length)
        {
            span(at, text.Length - at, false);
        }
    }

    /// <inheritdoc />
    public override string ToString() => _regex.ToString();
}
