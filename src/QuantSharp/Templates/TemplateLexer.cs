using System.Globalization;
using System.Text;

namespace QuantSharp.Templates;

/// <summary>
/// Splits template source into tokens exactly as Jinja2's lexer does in the Hugging Face environment
/// (<c>trim_blocks=True</c>, <c>lstrip_blocks=True</c>, <c>keep_trailing_newline=False</c>).
/// </summary>
/// <remarks>
/// Whitespace rules, in Jinja's order: newlines are normalized to <c>\n</c> and one trailing newline is dropped;
/// <c>{%-</c>/<c>{{-</c>/<c>{#-</c> strip all whitespace before the tag; otherwise a <c>{%</c> or <c>{#</c> tag
/// (not <c>{{</c>, not <c>{%+</c>) preceded on its line only by whitespace strips that whitespace
/// (lstrip_blocks); <c>-%}</c>/<c>-}}</c>/<c>-#}</c> strip all whitespace after the tag; otherwise one newline
/// right after <c>%}</c> or <c>#}</c> is dropped (trim_blocks) unless the tag ends with <c>+%}</c>.
/// </remarks>
internal sealed class TemplateLexer
{
    private static readonly string[] s_operators =
    [
        "//", "**", "==", "!=", ">=", "<=",
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ];

    private readonly string _source;
    private readonly string _origin;
    private readonly List<Token> _tokens = [];
    private readonly List<int> _lineStarts = [0];
    private int _pos;
    private bool _lineStarting = true;

    private TemplateLexer(string source, string origin)
    {
        _source = source;
        _origin = origin;
        for (int i = 0; i < source.Length; i++)
        {
            if (source[i] == '\n')
            {
                _lineStarts.Add(i + 1);
            }
        }
    }

    /// <summary>Tokenizes <paramref name="source"/>; the list always ends with a <see cref="TokenKind.End"/> token.</summary>
    /// <exception cref="ChatTemplateException">An unterminated tag, comment or string, or an unexpected character.</exception>
    public static List<Token> Tokenize(string source, string origin)
    {
        var lexer = new TemplateLexer(Normalize(source), origin);
        lexer.Run();
        return lexer._tokens;
    }

    /// <summary>Jinja's newline handling: <c>\r\n</c> and <c>\r</c> become <c>\n</c>, one trailing newline is dropped.</summary>
    internal static string Normalize(string source)
    {
        string s = source.Contains('\r') ? source.Replace("\r\n", "\n").Replace('\r', '\n') : source;
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    private void Run()
    {
        int n = _source.Length;
        while (_pos < n)
        {
            int tag = FindTagStart(_pos);
            if (tag < 0)
            {
                AddData(_source[_pos..], _pos);
                _pos = n;
                break;
            }

            char kind = _source[tag + 1];
            int after = tag + 2;
            char sign = after < n && _source[after] is '-' or '+' ? _source[after] : '\0';
            int contentStart = sign == '\0' ? after : after + 1;
            string text = StripBefore(_source[_pos..tag], sign, kind != '{');
            AddData(text, _pos);

            if (kind == '#')
            {
                LexComment(tag, contentStart);
            }
            else if (kind == '%' && TryMatchRawBegin(contentStart, out int rawBody))
            {
                LexRaw(tag, rawBody);
            }
            else
            {
                _pos = contentStart;
                LexTag(kind == '%', tag);
            }
        }

        _tokens.Add(MakeToken(TokenKind.End, "", n));
    }

    private int FindTagStart(int from)
    {
        for (int i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
        {
            if (_source[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    private string StripBefore(string text, char sign, bool lstripEligible)
    {
        if (sign == '-')
        {
            return PyStrings.RStrip(text);
        }

        if (sign != '+' && lstripEligible)
        {
            int lineStart = text.LastIndexOf('\n') + 1;
            if ((lineStart > 0 || _lineStarting) && lineStart < text.Length && IsAllSpace(text, lineStart))
            {
                return text[..lineStart];
            }
        }

        return text;
    }

    private static bool IsAllSpace(string text, int from)
    {
        for (int i = from; i < text.Length; i++)
        {
            if (!PyStrings.IsSpace(text[i]))
            {
                return false;
            }
        }

        return true;
    }

    private void AddData(string text, int position)
    {
        if (text.Length > 0)
        {
            _tokens.Add(MakeToken(TokenKind.Data, text, position));
        }
    }

    private void LexComment(int tag, int contentStart)
    {
        int end = _source.IndexOf("#}", contentStart, StringComparison.Ordinal);
        if (end < 0)
        {
            throw Error(tag, "missing end of comment tag '#}'");
        }

        char sign = end - 1 >= contentStart ? _source[end - 1] : '\0';
        _pos = end + 2;
        FinishTagEnd(sign, trimNewline: true);
    }

    /// <summary>After a tag end: <c>-</c> eats all following whitespace, <c>+</c> nothing, else trim_blocks' one newline.</summary>
    private void FinishTagEnd(char sign, bool trimNewline)
    {
        int matchStart = _pos;
        if (sign == '-')
        {
            while (_pos < _source.Length && PyStrings.IsSpace(_source[_pos]))
            {
                _pos++;
            }
        }
        else if (sign != '+' && trimNewline && _pos < _source.Length && _source[_pos] == '\n')
        {
            _pos++;
        }

        _lineStarting = _pos > matchStart ? _source[_pos - 1] == '\n' : false;
    }

    private bool TryMatchRawBegin(int from, out int bodyStart)
    {
        bodyStart = 0;
        int i = SkipSpace(from);
        if (string.CompareOrdinal(_source, i, "raw", 0, 3) != 0)
        {
            return false;
        }

        i = SkipSpace(i + 3);
        if (string.CompareOrdinal(_source, i, "-%}", 0, 3) == 0)
        {
            bodyStart = SkipSpace(i + 3);
            return true;
        }

        if (string.CompareOrdinal(_source, i, "%}", 0, 2) == 0)
        {
            bodyStart = i + 2;
            return true;
        }

        return false;
    }

    private void LexRaw(int tag, int bodyStart)
    {
        _lineStarting = bodyStart > 0 && _source[bodyStart - 1] == '\n';
        for (int i = _source.IndexOf("{%", bodyStart, StringComparison.Ordinal); i >= 0;
             i = _source.IndexOf("{%", i + 2, StringComparison.Ordinal))
        {
            int j = i + 2;
            char sign = j < _source.Length && _source[j] is '-' or '+' ? _source[j] : '\0';
            j = SkipSpace(sign == '\0' ? j : j + 1);
            if (string.CompareOrdinal(_source, j, "endraw", 0, 6) != 0)
            {
                continue;
            }

            j = SkipSpace(j + 6);
            char endSign;
            if (string.CompareOrdinal(_source, j, "%}", 0, 2) == 0)
            {
                endSign = '\0';
                j += 2;
            }
            else if (j + 2 < _source.Length && _source[j] is '-' or '+' && string.CompareOrdinal(_source, j + 1, "%}", 0, 2) == 0)
            {
                endSign = _source[j];
                j += 3;
            }
            else
            {
                continue;
            }

            AddData(StripBefore(_source[bodyStart..i], sign, lstripEligible: true), bodyStart);
            _pos = j;
            FinishTagEnd(endSign, trimNewline: true);
            return;
        }

        throw Error(tag, "missing '{% endraw %}' for this '{% raw %}'");
    }

    private int SkipSpace(int i)
    {
        while (i < _source.Length && PyStrings.IsSpace(_source[i]))
        {
            i++;
        }

        return i;
    }

    private void LexTag(bool isBlock, int tag)
    {
        _tokens.Add(MakeToken(isBlock ? TokenKind.BlockBegin : TokenKind.VariableBegin, isBlock ? "{%" : "{{", tag));
        var brackets = new Stack<char>();
        while (true)
        {
            _pos = SkipSpace(_pos);
            if (_pos >= _source.Length)
            {
                throw Error(tag, isBlock ? "unexpected end of template: this '{%' is never closed by '%}'" :
                    "unexpected end of template: this '{{' is never closed by '}}'");
            }

            if (brackets.Count == 0 && TryLexTagEnd(isBlock))
            {
                return;
            }

            char c = _source[_pos];
            if (char.IsLetter(c) || c == '_')
            {
                LexName();
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber();
            }
            else if (c is '\'' or '"')
            {
                LexString();
            }
            else
            {
                LexOperator(brackets);
            }
        }
    }

    private bool TryLexTagEnd(bool isBlock)
    {
        string close = isBlock ? "%}" : "}}";
        int start = _pos;
        char sign = '\0';
        if (_source[_pos] is '-' or '+' && string.CompareOrdinal(_source, _pos + 1, close, 0, 2) == 0)
        {
            sign = _source[_pos];
            if (sign == '+' && !isBlock)
            {
                return false;
            }

            _pos += 3;
        }
        else if (string.CompareOrdinal(_source, _pos, close, 0, 2) == 0)
        {
            _pos += 2;
        }
        else
        {
            return false;
        }

        _tokens.Add(MakeToken(isBlock ? TokenKind.BlockEnd : TokenKind.VariableEnd, close, start));
        FinishTagEnd(sign, trimNewline: isBlock);
        return true;
    }

    private void LexName()
    {
        int start = _pos;
        while (_pos < _source.Length && (char.IsLetterOrDigit(_source[_pos]) || _source[_pos] == '_'))
        {
            _pos++;
        }

        _tokens.Add(MakeToken(TokenKind.Name, _source[start.._pos], start));
    }

    private void LexNumber()
    {
        int start = _pos;
        if (_source[_pos] == '0' && _pos + 1 < _source.Length && char.ToLowerInvariant(_source[_pos + 1]) is 'x' or 'o' or 'b')
        {
            char radixChar = char.ToLowerInvariant(_source[_pos + 1]);
            int radix = radixChar == 'x' ? 16 : radixChar == 'o' ? 8 : 2;
            _pos += 2;
            int digitsStart = _pos;
            while (_pos < _source.Length && (char.IsAsciiHexDigit(_source[_pos]) || _source[_pos] == '_'))
            {
                _pos++;
            }

            string digits = _source[digitsStart.._pos].Replace("_", "");
            long value = 0;
            foreach (char d in digits)
            {
                int v = char.IsAsciiDigit(d) ? d - '0' : char.ToLowerInvariant(d) - 'a' + 10;
                if (v >= radix)
                {
                    throw Error(start, $"invalid digit '{d}' in number literal");
                }

                if (value > (long.MaxValue - v) / radix)
                {
                    throw Error(start, $"integer literal {_source[start.._pos]} is too large");
                }

                value = (value * radix) + v;
            }

            if (digits.Length == 0)
            {
                throw Error(start, "invalid number literal");
            }

            _tokens.Add(MakeToken(TokenKind.Integer, _source[start.._pos], start, value));
            return;
        }

        // Jinja's float rule has a (?<!\.) look-behind, so "x.0.1" is an attribute chain, not a float.
        bool floatAllowed = start == 0 || _source[start - 1] != '.';
        SkipDigits();
        bool isFloat = false;
        if (floatAllowed && _pos + 1 < _source.Length && _source[_pos] == '.' && char.IsAsciiDigit(_source[_pos + 1]))
        {
            _pos++;
            SkipDigits();
            isFloat = true;
        }

        if (floatAllowed && _pos < _source.Length && _source[_pos] is 'e' or 'E')
        {
            int e = _pos + 1;
            if (e < _source.Length && _source[e] is '+' or '-')
            {
                e++;
            }

            if (e < _source.Length && char.IsAsciiDigit(_source[e]))
            {
                _pos = e;
                SkipDigits();
                isFloat = true;
            }
        }

        string literal = _source[start.._pos];
        string clean = literal.Replace("_", "");
        if (isFloat)
        {
            _tokens.Add(MakeToken(TokenKind.Float, literal, start, double.Parse(clean, NumberStyles.Float, CultureInfo.InvariantCulture)));
        }
        else if (long.TryParse(clean, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
        {
            _tokens.Add(MakeToken(TokenKind.Integer, literal, start, value));
        }
        else
        {
            throw Error(start, $"integer literal {literal} is too large");
        }
    }

    private void SkipDigits()
    {
        while (_pos < _source.Length && (char.IsAsciiDigit(_source[_pos]) ||
               (_source[_pos] == '_' && _pos + 1 < _source.Length && char.IsAsciiDigit(_source[_pos + 1]))))
        {
            _pos++;
        }
    }

    private void LexString()
    {
        int start = _pos;
        char quote = _source[_pos++];
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _source.Length)
            {
                throw Error(start, "unterminated string literal");
            }

            char c = _source[_pos++];
            if (c == quote)
            {
                break;
            }

            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }

            if (_pos >= _source.Length)
            {
                throw Error(start, "unterminated string literal");
            }

            AppendEscape(sb, start);
        }

        _tokens.Add(MakeToken(TokenKind.String, _source[start.._pos], start, sb.ToString()));
    }

    /// <summary>Python's <c>unicode-escape</c> decoding of one escape; <c>_pos</c> is just past the backslash.</summary>
    private void AppendEscape(StringBuilder sb, int start)
    {
        char e = _source[_pos++];
        switch (e)
        {
            case '\n': break;
            case '\\': sb.Append('\\'); break;
            case '\'': sb.Append('\''); break;
            case '"': sb.Append('"'); break;
            case 'a': sb.Append('\a'); break;
            case 'b': sb.Append('\b'); break;
            case 'f': sb.Append('\f'); break;
            case 'n': sb.Append('\n'); break;
            case 'r': sb.Append('\r'); break;
            case 't': sb.Append('\t'); break;
            case 'v': sb.Append('\v'); break;
            case 'x': AppendCodePoint(sb, ReadHex(2, start), start); break;
            case 'u': AppendCodePoint(sb, ReadHex(4, start), start); break;
            case 'U': AppendCodePoint(sb, ReadHex(8, start), start); break;
            case >= '0' and <= '7':
                int value = e - '0';
                for (int k = 0; k < 2 && _pos < _source.Length && _source[_pos] is >= '0' and <= '7'; k++)
                {
                    value = (value * 8) + (_source[_pos++] - '0');
                }

                AppendCodePoint(sb, value, start);
                break;
            default:
                sb.Append('\\').Append(e);
                break;
        }
    }

    private int ReadHex(int digits, int start)
    {
        if (_pos + digits > _source.Length)
        {
            throw Error(start, "truncated escape sequence in string literal");
        }

        string hex = _source.Substring(_pos, digits);
        if (!int.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value) || hex.Contains('+') || hex.Contains('-'))
        {
            throw Error(start, $"invalid escape sequence '{hex}' in string literal");
        }

        _pos += digits;
        return value;
    }

    private void AppendCodePoint(StringBuilder sb, int value, int start)
    {
        if (value < 0 || value > 0x10FFFF)
        {
            throw Error(start, "escape sequence out of Unicode range in string literal");
        }

        if (value < 0x10000)
        {
            sb.Append((char)value);
        }
        else
        {
            sb.Append(char.ConvertFromUtf32(value));
        }
    }

    private void LexOperator(Stack<char> brackets)
    {
        foreach (string op in s_operators)
        {
            if (string.CompareOrdinal(_source, _pos, op, 0, op.Length) != 0)
            {
                continue;
            }

            if (op is "(" or "[" or "{")
            {
                brackets.Push(op switch { "(" => ')', "[" => ']', _ => '}' });
            }
            else if (op is ")" or "]" or "}")
            {
                if (brackets.Count == 0)
                {
                    throw Error(_pos, $"unexpected '{op}'");
                }

                char expected = brackets.Pop();
                if (expected != op[0])
                {
                    throw Error(_pos, $"unexpected '{op}', expected '{expected}'");
                }
            }

            _tokens.Add(MakeToken(TokenKind.Operator, op, _pos));
            _pos += op.Length;
            return;
        }

        throw Error(_pos, $"unexpected character '{_source[_pos]}'");
    }

    private Token MakeToken(TokenKind kind, string text, int position, object? value = null)
    {
        (int line, int column) = Locate(position);
        return new Token(kind, text, line, column, value);
    }

    private (int Line, int Column) Locate(int position)
    {
        int index = _lineStarts.BinarySearch(position);
        int line = index >= 0 ? index : ~index - 1;
        return (line + 1, position - _lineStarts[line] + 1);
    }

    private ChatTemplateException Error(int position, string problem)
    {
        (int line, int column) = Locate(position);
        return new ChatTemplateException($"{_origin}:{line}:{column}: {problem}");
    }
}
