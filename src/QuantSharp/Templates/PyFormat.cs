using System.Globalization;
using System.Text;

namespace QuantSharp.Templates;

/// <summary>
/// Python string formatting: <c>"%s items" % n</c> / the <c>format</c> filter (printf style), and
/// <c>"{} {name}".format(…)</c> with the common format-spec subset (fill, align, sign, width, precision, type).
/// </summary>
internal static class PyFormat
{
    /// <summary>Python's <c>format % args</c>: a tuple supplies several values, a dict supplies <c>%(name)s</c>.</summary>
    public static string Percent(string format, object? args)
    {
        IReadOnlyList<object?> values = args is object?[] tuple ? tuple : [args];
        var mapping = args as OrderedDictionary<object, object?>;
        int next = 0;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }

            if (++i >= format.Length)
            {
                throw new TemplateRuntimeException("incomplete format");
            }

            object? value = null;
            bool haveValue = false;
            if (format[i] == '(')
            {
                int close = format.IndexOf(')', i);
                if (close < 0 || mapping is null)
                {
                    throw new TemplateRuntimeException("format requires a mapping");
                }

                string key = format[(i + 1)..close];
                if (!mapping.TryGetValue(key, out value))
                {
                    throw new TemplateRuntimeException($"KeyError: {PyStrings.Repr(key)}");
                }

                haveValue = true;
                i = close + 1;
            }

            int specStart = i;
            while (i < format.Length && "-+ #0".Contains(format[i]))
            {
                i++;
            }

            string flags = format[specStart..i];
            int? width = ReadNumber(format, ref i);
            int? precision = null;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = ReadNumber(format, ref i) ?? 0;
            }

            while (i < format.Length && format[i] is 'h' or 'l' or 'L')
            {
                i++;
            }

            if (i >= format.Length)
            {
                throw new TemplateRuntimeException("incomplete format");
            }

            char type = format[i];
            if (type == '%')
            {
                sb.Append('%');
                continue;
            }

            if (!haveValue)
            {
                if (next >= values.Count)
                {
                    throw new TemplateRuntimeException("not enough arguments for format string");
                }

                value = values[next++];
            }

            string text = type switch
            {
                's' => TemplateValues.ToStr(value),
                'r' or 'a' => TemplateValues.Repr(value),
                'c' => value is string ch ? ch : char.ConvertFromUtf32((int)TemplateValues.ToLong(value)),
                _ => FormatNumber(value, type, precision, flags.Contains('+') ? "+" : flags.Contains(' ') ? " " : "-", flags.Contains('#')),
            };
            if (type is 's' or 'r' or 'a' && precision is int p && p < text.Length)
            {
                text = text[..p];
            }

            if (width is int w && w > text.Length)
            {
                TemplateValues.CheckLength(w);
                bool left = flags.Contains('-');
                bool zero = flags.Contains('0') && !left && type is not ('s' or 'r' or 'a' or 'c');
                text = left ? text.PadRight(w) : zero ? PadZeros(text, w) : text.PadLeft(w);
            }

            sb.Append(text);
            TemplateValues.CheckLength(sb.Length);
        }

        if (mapping is null && next < values.Count && args is object?[])
        {
            throw new TemplateRuntimeException("not all arguments converted during string formatting");
        }

        return sb.ToString();
    }

    private static int? ReadNumber(string s, ref int i)
    {
        int start = i;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            i++;
        }

        if (i == start)
        {
            return null;
        }

        return int.TryParse(s.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new TemplateRuntimeException("width or precision too big");
    }

    private static string PadZeros(string text, int width)
    {
        int signLength = text.Length > 0 && text[0] is '-' or '+' or ' ' ? 1 : 0;
        return text[..signLength] + text[signLength..].PadLeft(width - signLength, '0');
    }

    private static string FormatNumber(object? value, char type, int? precision, string sign, bool alternate)
    {
        if (value is string || !TemplateValues.IsNumber(value))
        {
            throw new TemplateRuntimeException($"%{type} format: a real number is required, not {TemplateValues.TypeName(value)}");
        }

        string body;
        bool negative;
        switch (type)
        {
            case 'd' or 'i' or 'u':
                double dv = TemplateValues.ToDouble(value);
                long l = value is double ? (long)Math.Truncate(dv) : TemplateValues.ToLong(value);
                negative = l < 0;
                body = Math.Abs((decimal)l).ToString(CultureInfo.InvariantCulture);
                break;
            case 'x' or 'X' or 'o':
                long iv = TemplateValues.ToLong(value);
                negative = iv < 0;
                ulong magnitude = (ulong)Math.Abs((decimal)iv);
                body = type == 'o' ? Convert.ToString((long)magnitude, 8) : magnitude.ToString(type == 'x' ? "x" : "X", CultureInfo.InvariantCulture);
                if (alternate)
                {
                    body = (type == 'o' ? "0o" : type == 'x' ? "0x" : "0X") + body;
                }

                break;
            case 'f' or 'F' or 'e' or 'E' or 'g' or 'G':
                double d = TemplateValues.ToDouble(value);
                negative = double.IsNegative(d) && !double.IsNaN(d);
                body = FormatFloat(Math.Abs(d), type, precision ?? 6);
                break;
            default:
                throw new TemplateRuntimeException($"unsupported format character '{type}'");
        }

        return (negative ? "-" : sign == "-" ? "" : sign) + body;
    }

    private static string FormatFloat(double d, char type, int precision)
    {
        if (double.IsNaN(d) || double.IsInfinity(d))
        {
            string s = double.IsNaN(d) ? "nan" : "inf";
            return char.IsUpper(type) ? s.ToUpperInvariant() : s;
        }

        switch (char.ToLowerInvariant(type))
        {
            case 'f':
                return d.ToString("F" + precision.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            case 'e':
                string e = d.ToString((type == 'E' ? "E" : "e") + precision.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
                return FixExponent(e);
            default:
                int p = precision == 0 ? 1 : precision;
                if (d == 0)
                {
                    return "0";
                }

                int exponent = (int)Math.Floor(Math.Log10(d));
                string text = exponent < -4 || exponent >= p
                    ? FixExponent(d.ToString((type == 'G' ? "E" : "e") + (p - 1).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture))
                    : d.ToString("F" + Math.Max(0, p - 1 - exponent).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
                int ePos = text.IndexOfAny(['e', 'E']);
                string mantissa = ePos < 0 ? text : text[..ePos];
                if (mantissa.Contains('.'))
                {
                    mantissa = mantissa.TrimEnd('0').TrimEnd('.');
                }

                return ePos < 0 ? mantissa : mantissa + text[ePos..];
        }
    }

    /// <summary>.NET writes exponents as <c>e+006</c>; Python as <c>e+06</c>.</summary>
    private static string FixExponent(string text)
    {
        int e = text.IndexOfAny(['e', 'E']);
        if (e < 0)
        {
            return text;
        }

        string digits = text[(e + 2)..].TrimStart('0');
        return text[..(e + 2)] + (digits.Length < 2 ? digits.PadLeft(2, '0') : digits);
    }

    /// <summary>Python's <c>str.format(*args, **kwargs)</c> for <c>{}</c>, <c>{0}</c>, <c>{name}</c>, <c>!r</c>/<c>!s</c> and a format spec.</summary>
    public static string Format(string format, CallArguments args)
    {
        var sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c == '{' && i + 1 < format.Length && format[i + 1] == '{')
            {
                sb.Append('{');
                i++;
                continue;
            }

            if (c == '}' && i + 1 < format.Length && format[i + 1] == '}')
            {
                sb.Append('}');
                i++;
                continue;
            }

            if (c == '}')
            {
                throw new TemplateRuntimeException("Single '}' encountered in format string");
            }

            if (c != '{')
            {
                sb.Append(c);
                continue;
            }

            int close = format.IndexOf('}', i);
            if (close < 0)
            {
                throw new TemplateRuntimeException("Single '{' encountered in format string");
            }

            string field = format[(i + 1)..close];
            i = close;
            string spec = "";
            int colon = field.IndexOf(':');
            if (colon >= 0)
            {
                spec = field[(colon + 1)..];
                field = field[..colon];
            }

            char conversion = '\0';
            int bang = field.IndexOf('!');
            if (bang >= 0)
            {
                conversion = bang + 1 < field.Length ? field[bang + 1] : '\0';
                field = field[..bang];
            }

            object? value;
            if (field.Length == 0)
            {
                value = auto < args.Positional.Count ? args.Positional[auto++] : throw new TemplateRuntimeException($"Replacement index {auto} out of range for positional args tuple");
            }
            else if (int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
            {
                value = index < args.Positional.Count ? args.Positional[index] : throw new TemplateRuntimeException($"Replacement index {index} out of range for positional args tuple");
            }
            else
            {
                value = args.TryGet(-1, field, out object? named) ? named : throw new TemplateRuntimeException($"KeyError: {PyStrings.Repr(field)}");
            }

            if (conversion is 'r' or 'a')
            {
                value = TemplateValues.Repr(value);
            }
            else if (conversion == 's')
            {
                value = TemplateValues.ToStr(value);
            }

            sb.Append(ApplySpec(value, spec));
            TemplateValues.CheckLength(sb.Length);
        }

        return sb.ToString();
    }

    /// <summary>Python's <c>format(value, spec)</c> for <c>[[fill]align][sign][#][0][width][,][.precision][type]</c>.</summary>
    public static string ApplySpec(object? value, string spec)
    {
        if (spec.Length == 0)
        {
            return TemplateValues.ToStr(value);
        }

        int i = 0;
        char fill = ' ';
        char align = '\0';
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^' or '=')
        {
            fill = spec[0];
            align = spec[1];
            i = 2;
        }
        else if (spec[0] is '<' or '>' or '^' or '=')
        {
            align = spec[0];
            i = 1;
        }

        string sign = "-";
        if (i < spec.Length && spec[i] is '+' or '-' or ' ')
        {
            sign = spec[i++].ToString();
        }

        bool alternate = i < spec.Length && spec[i] == '#';
        if (alternate)
        {
            i++;
        }

        if (i < spec.Length && spec[i] == '0')
        {
            fill = '0';
            align = align == '\0' ? '=' : align;
            i++;
        }

        int? width = ReadNumber(spec, ref i);
        bool grouping = i < spec.Length && spec[i] == ',';
        if (grouping)
        {
            i++;
        }

        int? precision = null;
        if (i < spec.Length && spec[i] == '.')
        {
            i++;
            precision = ReadNumber(spec, ref i);
        }

        char type = i < spec.Length ? spec[i++] : '\0';
        if (i != spec.Length)
        {
            throw new TemplateRuntimeException($"Invalid format specifier '{spec}'");
        }

        string text;
        bool numeric = TemplateValues.IsNumber(value) && value is not bool;
        if (value is string s)
        {
            text = precision is int p && p < s.Length ? s[..p] : s;
        }
        else if (numeric && type is 'd' or 'x' or 'X' or 'o' or 'f' or 'F' or 'e' or 'E' or 'g' or 'G' or '%' ||
                 (numeric && type == '\0' && (precision is not null || sign != "-" || grouping)))
        {
            if (type == '%')
            {
                text = FormatNumber(TemplateValues.ToDouble(value) * 100, 'f', precision, sign, alternate) + "%";
            }
            else
            {
                char t = type == '\0' ? (value is double ? 'g' : 'd') : type;
                text = FormatNumber(value, t, precision, sign, alternate);
            }

            if (grouping)
            {
                text = Group(text);
            }
        }
        else
        {
            text = TemplateValues.ToStr(value);
        }

        if (width is int w && w > text.Length)
        {
            TemplateValues.CheckLength(w);
            align = align == '\0' ? (numeric ? '>' : '<') : align;
            int pad = w - text.Length;
            text = align switch
            {
                '<' => text + new string(fill, pad),
                '^' => new string(fill, pad / 2) + text + new string(fill, pad - (pad / 2)),
                '=' when text.Length > 0 && text[0] is '-' or '+' or ' ' => text[0] + new string(fill, pad) + text[1..],
                _ => new string(fill, pad) + text,
            };
        }

        return text;
    }

    private static string Group(string number)
    {
        int start = number.Length > 0 && number[0] is '-' or '+' or ' ' ? 1 : 0;
        int end = number.IndexOfAny(['.', 'e', 'E', '%']);
        end = end < 0 ? number.Length : end;
        var sb = new StringBuilder(number[..start]);
        string digits = number[start..end];
        for (int k = 0; k < digits.Length; k++)
        {
            if (k > 0 && (digits.Length - k) % 3 == 0)
            {
                sb.Append(',');
            }

            sb.Append(digits[k]);
        }

        return sb.Append(number[end..]).ToString();
    }
}
