using System.Globalization;
using System.Text;

namespace QuantSharp.Tokenizers;

/// <summary>
/// WordPiece (BERT): Hugging Face's <c>BasicTokenizer</c> (drop control characters, whitespace → space, space around CJK
/// ideographs, lower-case and strip accents, split on whitespace and punctuation), then per word the longest vocabulary
/// prefix, continuing with "##"-prefixed entries; a word that cannot be covered, or longer than 100 characters, is
/// the unknown token.
/// </summary>
internal sealed class WordPieceModel : VocabularyModel
{
    private static readonly WhitespacePreTokenizer s_words = new(isolatePunctuation: true);
    private readonly int _unknown;

    /// <summary>Builds the model from the vocabulary by id.</summary>
    public WordPieceModel(string[] tokens, int unknownId, bool lowercase, string continuingPrefix = "##", int maxWordChars = 100)
        : base(tokens)
    {
        _unknown = unknownId;
        Lowercase = lowercase;
        ContinuingPrefix = continuingPrefix;
        MaxWordChars = Math.Clamp(maxWordChars, 1, 100_000);
    }

    /// <summary>Text is lower-cased and accents stripped before splitting.</summary>
    public bool Lowercase { get; }

    /// <summary>The prefix of word-continuing entries ("##").</summary>
    public string ContinuingPrefix { get; }

    /// <summary>Longer words become the unknown token.</summary>
    public int MaxWordChars { get; }

    /// <inheritdoc />
    public override void Encode(string text, List<int> ids, bool atStart = true)
    {
        string normalized = BasicNormalize(text, cleanText: true, chineseChars: true, Lowercase, Lowercase);
        var words = new List<string>();
        s_words.Split(normalized, words);
        foreach (string word in words)
        {
            EncodeWord(word, ids);
        }
    }

    private void EncodeWord(string word, List<int> ids)
    {
        if (word.Length > MaxWordChars)
        {
            ids.Add(_unknown);
            return;
        }

        int before = ids.Count;
        char[] buffer = new char[ContinuingPrefix.Length + word.Length];
        ContinuingPrefix.AsSpan().CopyTo(buffer);
        for (int start = 0; start < word.Length;)
        {
            // No entry is longer than the longest token, so longer candidates need not be tried (as llama.cpp does).
            int found = -1, end = Math.Min(word.Length, start + Vocab.Longest);
            for (; end > start; end--)
            {
                ReadOnlySpan<char> candidate;
                if (start == 0)
                {
                    candidate = word.AsSpan(0, end);
                }
                else
                {
                    word.AsSpan(start, end - start).CopyTo(buffer.AsSpan(ContinuingPrefix.Length));
                    candidate = buffer.AsSpan(0, ContinuingPrefix.Length + end - start);
                }

                if (Vocab.TryGetId(candidate, out found))
                {
                    break;
                }

                found = -1;
            }

            if (found < 0)
            {
                ids.RemoveRange(before, ids.Count - before);
                ids.Add(_unknown);
                return;
            }

            ids.Add(found);
            start = end;
        }
    }

    /// <inheritdoc />
    public override void AppendBytes(int id, bool first, List<byte> destination)
    {
        if (Vocab.Text(id) is not string token || IsControl(id))
        {
            return;
        }

        if (token.StartsWith(ContinuingPrefix, StringComparison.Ordinal))
        {
            token = token[ContinuingPrefix.Length..];
        }
        else if (!first)
        {
            token = " " + token;
        }

        destination.AddRange(Encoding.UTF8.GetBytes(token));
    }

    /// <summary>BERT's punctuation: ASCII symbols (so '$', '^', '`' count) and every Unicode P* category.</summary>
    public static bool IsPunctuation(char c)
    {
        if (c is >= (char)33 and <= (char)47 or >= (char)58 and <= (char)64 or >= (char)91 and <= (char)96 or >= (char)123 and <= (char)126)
        {
            return true;
        }

        return CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>Removes combining marks (Mn) after canonical decomposition.</summary>
    public static string StripAccents(string text)
    {
        string decomposed = text.Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(decomposed.Length);
        foreach (char c in decomposed)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark)
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    /// <summary>BERT's text clean-up: control characters and U+FFFD dropped, whitespace → ' ', CJK ideographs surrounded by
    /// spaces, then lower-casing and accent stripping.</summary>
    public static string BasicNormalize(string text, bool cleanText, bool chineseChars, bool lowercase, bool stripAccents)
    {
        var sb = new StringBuilder(text.Length + 8);
        for (int i = 0; i < text.Length; i++)
        {
            int cp = CodePointAt(text, i, out int width);
            if (cleanText)
            {
                if (cp == 0 || cp == 0xFFFD || IsControlCharacter(cp))
                {
                    i += width - 1;
                    continue;
                }

                if (IsWhitespace(cp))
                {
                    sb.Append(' ');
                    i += width - 1;
                    continue;
                }
            }

            if (chineseChars && IsCjk(cp))
            {
                sb.Append(' ').Append(text, i, width).Append(' ');
            }
            else
            {
                sb.Append(text, i, width);
            }

            i += width - 1;
        }

        string result = sb.ToString().Normalize(NormalizationForm.FormC);
        if (lowercase)
        {
            result = result.ToLowerInvariant();
        }

        return stripAccents ? StripAccents(result) : result;
    }

    private static bool IsWhitespace(int cp) => cp is ' ' or '\t' or '\n' or '\r'
        || (cp <= 0xFFFF && CharUnicodeInfo.GetUnicodeCategory((char)cp) == UnicodeCategory.SpaceSeparator);

    private static bool IsControlCharacter(int cp)
    {
        if (cp is '\t' or '\n' or '\r')
        {
            return false;
        }

        UnicodeCategory cat = CharUnicodeInfo.GetUnicodeCategory(cp);
        return cat is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.OtherNotAssigned
            or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate;
    }

    private static int CodePointAt(string s, int index, out int width)
    {
        if (char.IsHighSurrogate(s[index]) && index + 1 < s.Length && char.IsLowSurrogate(s[index + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(s[index], s[index + 1]);
        }

        width = 1;
        return s[index];
    }

    private static bool IsCjk(int cp) => cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF
        or >= 0x2A700 and <= 0x2B73F or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF
        or >= 0x2F800 and <= 0x2FA1F;
}
