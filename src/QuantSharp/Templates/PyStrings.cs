using System.Globalization;
using System.Text;

namespace QuantSharp.Templates;

/// <summary>
/// Python <c>str</c> semantics on .NET strings: whitespace as <c>str.isspace</c>, lengths and indices in code points
/// (so an emoji counts 1 as in Python, not 2 UTF-16 units), and the <c>str</c> methods templates call.
/// </summary>
internal static class PyStrings
{
    /// <summary>Python's <c>str.isspace</c> for one UTF-16 unit (adds the separators U+001C..U+001F to .NET's set).</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static string Strip(string s, string? chars = null) => RStrip(LStrip(s, chars), chars);

    public static string LStrip(string s, string? chars = null)
    {
        int i = 0;
        while (i < s.Length && Strippable(s[i], chars))
        {
            i++;
        }

        return s[i..];
    }

    public static string RStrip(string s, string? chars = null)
    {
        int i = s.Length;
        while (i > 0 && Strippable(s[i - 1], chars))
        {
            i--;
        }

        return s[..i];
    }

    private static bool Strippable(char c, string? chars) => chars is null ? IsSpace(c) : chars.Contains(c);

    /// <summary>True when the string holds surrogate pairs, so UTF-16 indices differ from Python's.</summary>
    private static bool HasSurrogates(string s)
    {
        foreach (char c in s)
        {
            if (char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The string as Python sees it: one element per code point (lone surrogates stay single units).</summary>
    public static string[] CodePoints(string s)
    {
        var result = new List<string>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                result.Add(s.Substring(i, 2));
                i++;
            }
            else
            {
                result.Add(s[i].ToString());
            }
        }

        return [.. result];
    }

    /// <summary>Python <c>len(s)</c>: code points.</summary>
    public static int Length(string s) => HasSurrogates(s) ? CodePoints(s).Length : s.Length;

    /// <summary>Python <c>s[index]</c> with negative indices; null when out of range.</summary>
    public static string? At(string s, long index)
    {
        if (!HasSurrogates(s))
        {
            long i = index < 0 ? index + s.Length : index;
            return i >= 0 && i < s.Length ? s[(int)i].ToString() : null;
        }

        string[] cps = CodePoints(s);
        long j = index < 0 ? index + cps.Length : index;
        return j >= 0 && j < cps.Length ? cps[j] : null;
    }

    /// <summary>Python <c>s[start:stop:step]</c>.</summary>
    public static string Slice(string s, long? start, long? stop, long? step)
    {
        if (!HasSurrogates(s) && (step ?? 1) == 1)
        {
            (int from, int to) = SliceBounds(s.Length, start, stop);
            return to > from ? s[from..to] : "";
        }

        string[] cps = CodePoints(s);
        var sb = new StringBuilder();
        foreach (int i in SliceIndices(cps.Length, start, stop, step))
        {
            sb.Append(cps[i]);
        }

        return sb.ToString();
    }

    private static (int From, int To) SliceBounds(int length, long? start, long? stop)
    {
        long from = Clamp(start ?? 0, length);
        long to = Clamp(stop ?? length, length);
        return ((int)from, (int)to);

        static long Clamp(long i, int length) => i < 0 ? Math.Max(0, i + length) : Math.Min(i, length);
    }

    /// <summary>The indices Python's <c>slice(start, stop, step).indices(length)</c> walks.</summary>
    public static IEnumerable<int> SliceIndices(int length, long? start, long? stop, long? step)
    {
        long st = step ?? 1;
        if (st == 0)
        {
            throw new TemplateRuntimeException("slice step cannot be zero");
        }

        long lower = st < 0 ? -1 : 0;
        long upper = st < 0 ? length - 1 : length;
        long begin = start is long b ? (b < 0 ? Math.Max(b + length, lower) : Math.Min(b, upper)) : (st < 0 ? upper : lower);
        long end = stop is long e ? (e < 0 ? Math.Max(e + length, lower) : Math.Min(e, upper)) : (st < 0 ? lower : upper);
        if (st > 0)
        {
            for (long i = begin; i < end; i += st)
            {
                yield return (int)i;
            }
        }
        else
        {
            for (long i = begin; i > end; i += st)
            {
                yield return (int)i;
            }
        }
    }

    /// <summary>Converts a UTF-16 index into <paramref name="s"/> to a Python (code point) index.</summary>
    public static int CodePointIndex(string s, int utf16Index)
    {
        if (utf16Index <= 0)
        {
            return utf16Index;
        }

        int count = 0;
        for (int i = 0; i < utf16Index && i < s.Length; i++)
        {
            if (!(char.IsLowSurrogate(s[i]) && i > 0 && char.IsHighSurrogate(s[i - 1])))
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>Python <c>str.split(sep, maxsplit)</c>; a null separator splits on runs of whitespace.</summary>
    public static List<object?> Split(string s, string? sep, long maxSplit)
    {
        var parts = new List<object?>();
        if (sep is null)
        {
            int i = 0;
            while (true)
            {
                while (i < s.Length && IsSpace(s[i]))
                {
                    i++;
                }

                if (i >= s.Length)
                {
                    break;
                }

                if (maxSplit >= 0 && parts.Count >= maxSplit)
                {
                    parts.Add(RStrip(s[i..]));
                    break;
                }

                int j = i;
                while (j < s.Length && !IsSpace(s[j]))
                {
                    j++;
                }

                parts.Add(s[i..j]);
                i = j;
            }

            return parts;
        }

        if (sep.Length == 0)
        {
            throw new TemplateRuntimeException("empty separator");
        }

        int start = 0;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            int k = s.IndexOf(sep, start, StringComparison.Ordinal);
            if (k < 0)
            {
                break;
            }

            parts.Add(s[start..k]);
            start = k + sep.Length;
        }

        parts.Add(s[start..]);
        return parts;
    }

    /// <summary>Python <c>str.rsplit(sep, maxsplit)</c>.</summary>
    public static List<object?> RSplit(string s, string? sep, long maxSplit)
    {
        if (maxSplit < 0)
        {
            return Split(s, sep, maxSplit);
        }

        var parts = new List<object?>();
        if (sep is null)
        {
            int i = s.Length;
            while (true)
            {
                while (i > 0 && IsSpace(s[i - 1]))
                {
                    i--;
                }

                if (i <= 0)
                {
                    break;
                }

                if (parts.Count >= maxSplit)
                {
                    parts.Add(LStrip(s[..i]));
                    break;
                }

                int j = i;
                while (j > 0 && !IsSpace(s[j - 1]))
                {
                    j--;
                }

                parts.Add(s[j..i]);
                i = j;
            }
        }
        else
        {
            if (sep.Length == 0)
            {
                throw new TemplateRuntimeException("empty separator");
            }

            int end = s.Length;
            while (parts.Count < maxSplit)
            {
                int k = end - sep.Length < 0 ? -1 : s.LastIndexOf(sep, end - 1, end, StringComparison.Ordinal);
                if (k < 0)
                {
                    break;
                }

                parts.Add(s[(k + sep.Length)..end]);
                end = k;
            }

            parts.Add(s[..end]);
        }

        parts.Reverse();
        return parts;
    }

    /// <summary>Python <c>str.splitlines()</c> (without keepends).</summary>
    public static List<string> SplitLines(string s)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')
            {
                lines.Add(s[start..i]);
                if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n')
                {
                    i++;
                }

                start = i + 1;
            }
        }

        if (start < s.Length)
        {
            lines.Add(s[start..]);
        }

        return lines;
    }

    public static string Lower(string s) => s.ToLowerInvariant();

    public static string Upper(string s) => s.ToUpperInvariant();

    /// <summary>Python <c>str.capitalize()</c>: first character upper case, the rest lower case.</summary>
    public static string Capitalize(string s) =>
        s.Length == 0 ? s : string.Concat(s[..1].ToUpperInvariant(), s[1..].ToLowerInvariant());

    /// <summary>Python <c>str.title()</c>: a letter after a non-letter is upper-cased, other letters lower-cased.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            if (char.IsLetter(c))
            {
                sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
                previousCased = true;
            }
            else
            {
                sb.Append(c);
                previousCased = false;
            }
        }

        return sb.ToString();
    }

    /// <summary>Python <c>str.islower()</c>: has a cased character and no upper-case one.</summary>
    public static bool IsLower(string s) => s.Any(char.IsLower) && !s.Any(char.IsUpper);

    /// <summary>Python <c>str.isupper()</c>.</summary>
    public static bool IsUpper(string s) => s.Any(char.IsUpper) && !s.Any(char.IsLower);

    /// <summary>Python <c>str.center(width, fill)</c>, including its choice of where the odd pad goes.</summary>
    public static string Center(string s, long width, string fill = " ")
    {
        int length = Length(s);
        if (width <= length)
        {
            return s;
        }

        TemplateValues.CheckLength(width);
        long pad = width - length;
        long left = (pad / 2) + (pad & width & 1);
        return string.Concat(Repeat(fill, left), s, Repeat(fill, pad - left));
    }

    public static string Repeat(string s, long count)
    {
        if (count <= 0 || s.Length == 0)
        {
            return "";
        }

        TemplateValues.CheckLength(s.Length * count);
        return new StringBuilder(s.Length * (int)count).Insert(0, s, (int)count).ToString();
    }

    /// <summary>Python <c>str.replace(old, new, count)</c>, with the result size checked before it is built.</summary>
    public static string Replace(string s, string oldValue, string newValue, long count = -1)
    {
        if (oldValue.Length == 0)
        {
            // Python inserts the replacement between every code point (and at both ends).
            string[] cps = CodePoints(s);
            long inserts = count < 0 ? cps.Length + 1 : Math.Min(count, cps.Length + 1);
            TemplateValues.CheckLength(s.Length + (inserts * newValue.Length));
            var sb = new StringBuilder();
            for (int i = 0; i < cps.Length; i++)
            {
                if (i < inserts)
                {
                    sb.Append(newValue);
                }

                sb.Append(cps[i]);
            }

            if (cps.Length < inserts)
            {
                sb.Append(newValue);
            }

            return sb.ToString();
        }

        long occurrences = 0;
        for (int i = s.IndexOf(oldValue, StringComparison.Ordinal); i >= 0 && (count < 0 || occurrences < count);
             i = s.IndexOf(oldValue, i + oldValue.Length, StringComparison.Ordinal))
        {
            occurrences++;
        }

        TemplateValues.CheckLength(s.Length + (occurrences * (newValue.Length - oldValue.Length)));
        if (count < 0)
        {
            return s.Replace(oldValue, newValue, StringComparison.Ordinal);
        }

        var result = new StringBuilder();
        int start = 0;
        for (long done = 0; done < count; done++)
        {
            int k = s.IndexOf(oldValue, start, StringComparison.Ordinal);
            if (k < 0)
            {
                break;
            }

            result.Append(s, start, k - start).Append(newValue);
            start = k + oldValue.Length;
        }

        return result.Append(s, start, s.Length - start).ToString();
    }

    /// <summary>Python's <c>repr(str)</c>: single quotes unless the text has one and no double quote.</summary>
    public static string Repr(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder(s.Length + 2).Append(quote);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsSurrogate(s[i]) && !(char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])))
            {
                sb.Append("\\u").Append(((int)s[i]).ToString("x4", CultureInfo.InvariantCulture));
                continue;
            }

            var r = char.IsHighSurrogate(s[i]) ? new Rune(s[i], s[++i]) : new Rune(s[i]);
            int v = r.Value;
            switch (v)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (v == quote)
                    {
                        sb.Append('\\').Append(quote);
                    }
                    else if (IsPrintable(r))
                    {
                        sb.Append(r.ToString());
                    }
                    else if (v < 0x100)
                    {
                        sb.Append("\\x").Append(v.ToString("x2", CultureInfo.InvariantCulture));
                    }
                    else if (v < 0x10000)
                    {
                        sb.Append("\\u").Append(v.ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append("\\U").Append(v.ToString("x8", CultureInfo.InvariantCulture));
                    }

                    break;
            }
        }

        return sb.Append(quote).ToString();
    }

    /// <summary>Python's <c>str.isprintable</c> for one code point: not a control, format, separator or unassigned.</summary>
    private static bool IsPrintable(Rune r)
    {
        if (r.Value == ' ')
        {
            return true;
        }

        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or
            UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or
            UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator => false,
            _ => true,
        };
    }
}
