using System.Text;
using System.Text.RegularExpressions;

namespace QuantSharp.Tokenizers;

/// <summary>A text rewrite applied before pre-tokenization (Hugging Face's <c>normalizer</c> entries).</summary>
internal abstract class TextNormalizer
{
    /// <summary>The rewritten text.</summary>
    public abstract string Normalize(string text);
}

/// <summary>Unicode normalization (NFC, NFD, NFKC, NFKD).</summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : TextNormalizer
{
    /// <inheritdoc />
    public override string Normalize(string text) => text.IsNormalized(form) ? text : text.Normalize(form);
}

/// <summary>Lower-casing (Unicode, culture-invariant).</summary>
internal sealed class LowercaseNormalizer : TextNormalizer
{
    /// <inheritdoc />
    public override string Normalize(string text) => text.ToLowerInvariant();
}

/// <summary>Prepends a fixed string to non-empty text.</summary>
internal sealed class PrependNormalizer(string prefix) : TextNormalizer
{
    /// <inheritdoc />
    public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
}

/// <summary>Replaces every occurrence of a string or a regex.</summary>
internal sealed class ReplaceNormalizer(string? literal, Regex? pattern, string content) : TextNormalizer
{
    /// <inheritdoc />
    public override string Normalize(string text)
    {
        if (pattern is null)
        {
            return text.Replace(literal!, content, StringComparison.Ordinal);
        }

        try
        {
            return pattern.Replace(text, content.Replace("$", "$$", StringComparison.Ordinal));
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new QuantSharpException($"normalizer pattern '{pattern}' took longer than {SplitPattern.Timeout.TotalSeconds:0} s on a {text.Length}-character text", e);
        }
    }
}

/// <summary>Strips whitespace at either end.</summary>
internal sealed class StripNormalizer(bool left, bool right) : TextNormalizer
{
    /// <inheritdoc />
    public override string Normalize(string text) => left && right ? text.Trim() : left ? text.TrimStart() : right ? text.TrimEnd() : text;
}

/// <summary>Removes combining marks (after a decomposition).</summary>
internal sealed class StripAccentsNormalizer : TextNormalizer
{
    /// <inheritdoc />
    public override string Normalize(string text) => WordPieceModel.StripAccents(text);
}

/// <summary>Hugging Face's <c>BertNormalizer</c>: clean control characters, space around CJK ideographs, lower-case and
/// strip accents (the latter follows <c>lowercase</c> unless set).</summary>
internal sealed class BertNormalizer(bool cleanText, bool chineseChars, bool lowercase, bool stripAccents) : TextNormalizer
{
    /// <inheritdoc />
    public override string Normalize(string text) => WordPieceModel.BasicNormalize(text, cleanText, chineseChars, lowercase, stripAccents);
}

/// <summary>Applies several normalizers in order.</summary>
internal sealed class SequenceNormalizer(IReadOnlyList<TextNormalizer> stages) : TextNormalizer
{
    /// <inheritdoc />
    public override string Normalize(string text)
    {
        foreach (TextNormalizer n in stages)
        {
            text = n.Normalize(text);
        }

        return text;
    }
}
