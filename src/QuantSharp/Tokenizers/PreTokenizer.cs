namespace QuantSharp.Tokenizers;

/// <summary>
/// Splits text into the pieces a subword model encodes independently ("words"). Pre-tokenizers compose as Hugging Face's
/// <c>Sequence</c> and llama.cpp's regex lists do: each stage splits every piece the previous stage produced.
/// </summary>
internal abstract class PreTokenizer
{
    /// <summary>Splits <paramref name="text"/> and appends the pieces (empty pieces are dropped).</summary>
    public abstract void Split(string text, List<string> pieces);

    /// <summary>The regex splitter this pre-tokenizer amounts to when it keeps every span of one regex in order (the fast
    /// path of <see cref="BytePairModel"/>), else null.</summary>
    public virtual RegexSplitter? AsIsolatingSplitter => null;

    /// <summary>True when the pre-tokenizer leaves text as one piece.</summary>
    public virtual bool IsIdentity => false;

    /// <summary>Splits <paramref name="text"/>; <paramref name="atStart"/> is false when it does not begin the input
    /// (only Metaspace's <c>prepend_scheme: first</c> cares).</summary>
    public virtual void Split(string text, List<string> pieces, bool atStart) => Split(text, pieces);

    /// <summary>A pattern compiled the way every pre-tokenizer pattern is (<see cref="SplitPattern"/>: linear time).</summary>
    public static SplitPattern Compile(string pattern) => SplitPattern.Compile(pattern);
}

/// <summary>How a <see cref="RegexSplitter"/> treats the text its pattern matches (Hugging Face's <c>SplitDelimiterBehavior</c>).</summary>
internal enum SplitBehavior
{
    /// <summary>Matches are dropped.</summary>
    Removed,
    /// <summary>Matches become pieces of their own (also llama.cpp's behaviour).</summary>
    Isolated,
    /// <summary>A match is appended to the piece before it.</summary>
    MergedWithPrevious,
    /// <summary>A match is prepended to the piece after it.</summary>
    MergedWithNext,
    /// <summary>Adjacent matches form one piece.</summary>
    Contiguous,
}

/// <summary>Splits on a regex: Hugging Face's <c>Split</c> and one entry of llama.cpp's pre-tokenizer regex lists.</summary>
internal sealed class RegexSplitter(SplitPattern pattern, SplitBehavior behavior = SplitBehavior.Isolated, bool invert = false) : PreTokenizer
{
    /// <summary>GPT-2's pattern (also used by Hugging Face's ByteLevel pre-tokenizer with <c>use_regex</c>).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly Lazy<RegexSplitter> s_gpt2 = new(() => new RegexSplitter(Compile(Gpt2Pattern)));

    /// <summary>A splitter with GPT-2's pattern.</summary>
    public static RegexSplitter Gpt2 => s_gpt2.Value;

    /// <inheritdoc />
    public override RegexSplitter? AsIsolatingSplitter => behavior == SplitBehavior.Isolated ? this : null;

    /// <summary>The pattern this splitter splits on.</summary>
    public SplitPattern Pattern => pattern;

    /// <summary>Calls <paramref name="span"/> with (start, length, is a match) of every span of the text in order, matches
    /// and the gaps between them alike, without building strings (all of them are the <see cref="SplitBehavior.Isolated"/> split).</summary>
    public void ForEachRange(string text, Action<int, int, bool> span) => pattern.ForEachRange(text, span);

    /// <inheritdoc />
    public override void Split(string text, List<string> pieces)
    {
        // (start, length, isMatch) spans covering the text in order.
        var spans = new List<(int Start, int Length, bool Match)>();
        ForEachRange(text, (start, length, isMatch) => spans.Add((start, length, isMatch)));

        int firstPiece = pieces.Count;
        int pendingStart = -1, pendingLength = 0; // MergedWithNext / Contiguous carry
        bool previousWasDelimiter = false;
        foreach ((int start, int length, bool isMatch) in spans)
        {
            bool delimiter = isMatch != invert;
            switch (behavior)
            {
                case SplitBehavior.Removed:
                    if (!delimiter)
                    {
                        pieces.Add(text.Substring(start, length));
                    }

                    break;
                case SplitBehavior.Isolated:
                    pieces.Add(text.Substring(start, length));
                    break;
                case SplitBehavior.MergedWithPrevious:
                    // A delimiter joins the piece before it unless that piece was a delimiter too (as tokenizers does).
                    if (delimiter && pieces.Count > firstPiece && !previousWasDelimiter)
                    {
                        pieces[^1] += text.Substring(start, length);
                    }
                    else
                    {
                        pieces.Add(text.Substring(start, length));
                    }

                    break;
                case SplitBehavior.MergedWithNext:
                    // A delimiter joins the piece after it unless that piece is a delimiter too (as tokenizers does).
                    if (pendingStart >= 0 && delimiter)
                    {
                        Flush(text, pieces, ref pendingStart, pendingLength);
                    }

                    if (delimiter)
                    {
                        pendingStart = start;
                        pendingLength = length;
                    }
                    else
                    {
                        int s = pendingStart >= 0 ? pendingStart : start;
                        pieces.Add(text.Substring(s, start + length - s));
                        pendingStart = -1;
                    }

                    break;
                case SplitBehavior.Contiguous:
                    if (delimiter)
                    {
                        if (pendingStart < 0)
                        {
                            pendingStart = start;
                        }

                        pendingLength = start + length - pendingStart;
                    }
                    else
                    {
                        Flush(text, pieces, ref pendingStart, pendingLength);
                        pieces.Add(text.Substring(start, length));
                    }

                    break;
            }

            previousWasDelimiter = delimiter;
        }

        if (behavior is SplitBehavior.MergedWithNext or SplitBehavior.Contiguous)
        {
            Flush(text, pieces, ref pendingStart, pendingLength);
        }
    }

    private static void Flush(string text, List<string> pieces, ref int pendingStart, int pendingLength)
    {
        if (pendingStart >= 0)
        {
            pieces.Add(text.Substring(pendingStart, pendingLength));
            pendingStart = -1;
        }
    }
}

/// <summary>Applies several pre-tokenizers in order, each to every piece of the one before.</summary>
internal sealed class SequencePreTokenizer(IReadOnlyList<PreTokenizer> stages) : PreTokenizer
{
    /// <inheritdoc />
    public override RegexSplitter? AsIsolatingSplitter => stages.Where(s => !s.IsIdentity).ToArray() is [PreTokenizer only] ? only.AsIsolatingSplitter : null;

    /// <inheritdoc />
    public override void Split(string text, List<string> pieces) => Split(text, pieces, atStart: true);

    /// <inheritdoc />
    public override void Split(string text, List<string> pieces, bool atStart)
    {
        var current = new List<string> { text };
        foreach (PreTokenizer stage in stages)
        {
            var next = new List<string>(current.Count);
            for (int i = 0; i < current.Count; i++)
            {
                stage.Split(current[i], next, atStart && i == 0);
            }

            current = next;
        }

        pieces.AddRange(current);
    }
}

/// <summary>Hugging Face's <c>ByteLevel</c> pre-tokenizer: an optional space before each piece that lacks one, then GPT-2's
/// pattern when <c>use_regex</c> is set. (The byte → character mapping itself is done by the byte-level model.)</summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    /// <inheritdoc />
    public override RegexSplitter? AsIsolatingSplitter => !addPrefixSpace && useRegex ? RegexSplitter.Gpt2 : null;

    /// <inheritdoc />
    public override bool IsIdentity => !addPrefixSpace && !useRegex;

    /// <inheritdoc />
    public override void Split(string text, List<string> pieces)
    {
        if (addPrefixSpace && !text.StartsWith(' '))
        {
            text = " " + text;
        }

        if (useRegex)
        {
            RegexSplitter.Gpt2.Split(text, pieces);
        }
        else if (text.Length > 0)
        {
            pieces.Add(text);
        }
    }
}

/// <summary>Hugging Face's <c>Digits</c>: digits split from the rest, one piece per digit when <c>individual_digits</c>.</summary>
internal sealed class DigitsPreTokenizer(bool individual) : PreTokenizer
{
    private static readonly SplitPattern s_runs = Compile(@"\p{Nd}+");
    private static readonly SplitPattern s_single = Compile(@"\p{Nd}");

    /// <inheritdoc />
    public override void Split(string text, List<string> pieces) => new RegexSplitter(individual ? s_single : s_runs).Split(text, pieces);
}

/// <summary>Splits on whitespace (dropped) and isolates punctuation: Hugging Face's <c>BertPreTokenizer</c> and
/// <c>WhitespaceSplit</c>/<c>Whitespace</c>.</summary>
internal sealed class WhitespacePreTokenizer(bool isolatePunctuation) : PreTokenizer
{
    /// <inheritdoc />
    public override void Split(string text, List<string> pieces)
    {
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool end = i == text.Length;
            char c = end ? ' ' : text[i];
            bool space = char.IsWhiteSpace(c);
            bool punct = !end && isolatePunctuation && WordPieceModel.IsPunctuation(c);
            if (space || punct)
            {
                if (start >= 0)
                {
                    pieces.Add(text[start..i]);
                    start = -1;
                }

                if (punct)
                {
                    pieces.Add(c.ToString());
                }
            }
            else if (start < 0)
            {
                start = i;
            }
        }
    }
}

/// <summary>Hugging Face's <c>Metaspace</c>: spaces become '▁', a '▁' is prepended (<c>prepend_scheme</c> "always" to every
/// segment, "first" only at the start of the input, "never"), and with <c>split</c> each '▁' starts a new piece.</summary>
internal sealed class MetaspacePreTokenizer(char replacement, string prependScheme, bool split) : PreTokenizer
{
    /// <inheritdoc />
    public override void Split(string text, List<string> pieces) => Split(text, pieces, atStart: true);

    /// <inheritdoc />
    public override void Split(string text, List<string> pieces, bool atStart)
    {
        string replaced = text.Replace(' ', replacement);
        bool prepend = prependScheme == "always" || (prependScheme == "first" && atStart);
        if (prepend && !replaced.StartsWith(replacement))
        {
            replaced = replacement + replaced;
        }

        if (!split)
        {
            if (replaced.Length > 0)
            {
                pieces.Add(replaced);
            }

            return;
        }

        int start = 0;
        for (int i = 1; i <= replaced.Length; i++)
        {
            if (i == replaced.Length || replaced[i] == replacement)
            {
                if (i > start)
                {
                    pieces.Add(replaced[start..i]);
                }

                start = i;
            }
        }
    }
}
