using System.Globalization;
using System.Text;

namespace QuantSharp.Templates;

/// <summary>
/// The functions every template sees: Jinja's <c>range</c>, <c>namespace</c>, <c>dict</c>, <c>joiner</c>, and
/// Hugging Face's <c>raise_exception(message)</c> and <c>strftime_now(format)</c>.
/// </summary>
internal static class TemplateGlobals
{
    /// <summary>Jinja's sandbox refuses larger ranges with this same limit.</summary>
    public const int MaxRange = 100_000;

    public static void AddTo(Scope scope, DateTime now)
    {
        scope.Set("range", new BuiltinFunction("range", Range));
        scope.Set("namespace", new BuiltinFunction("namespace", args =>
        {
            var ns = new TemplateNamespace();
            foreach (KeyValuePair<object, object?> pair in DictFrom(args, "namespace"))
            {
                ns.Attributes[TemplateValues.ToStr(pair.Key)] = pair.Value;
            }

            return ns;
        }));
        scope.Set("dict", new BuiltinFunction("dict", args => DictFrom(args, "dict")));
        scope.Set("joiner", new BuiltinFunction("joiner", Joiner));
        scope.Set("raise_exception", new BuiltinFunction("raise_exception", args =>
            throw new TemplateRuntimeException(TemplateValues.ToStr(args.Get(0, "message", ""))) { RaisedByTemplate = true }));
        scope.Set("strftime_now", new BuiltinFunction("strftime_now", args =>
        {
            args.Check("strftime_now", "format");
            return Strftime(now, TemplateValues.ToStr(args.Get(0, "format")));
        }));
    }

    private static List<object?> Range(CallArguments args)
    {
        if (args.Named.Count > 0 || args.Positional.Count is 0 or > 3)
        {
            throw new TemplateRuntimeException("range() takes 1 to 3 positional integer arguments");
        }

        long[] v = [.. args.Positional.Select(a => a is long or bool ? TemplateValues.ToLong(a)
            : throw new TemplateRuntimeException($"'{TemplateValues.TypeName(a)}' object cannot be interpreted as an integer"))];
        (long start, long stop, long step) = v.Length switch
        {
            1 => (0L, v[0], 1L),
            2 => (v[0], v[1], 1L),
            _ => (v[0], v[1], v[2]),
        };
        if (step == 0)
        {
            throw new TemplateRuntimeException("range() arg 3 must not be zero");
        }

        long count = step > 0
            ? (stop > start ? ((stop - start - 1) / step) + 1 : 0)
            : (start > stop ? ((start - stop - 1) / -step) + 1 : 0);
        if (count > MaxRange)
        {
            throw new TemplateRuntimeException($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        }

        var result = new List<object?>((int)count);
        for (long i = 0, x = start; i < count; i++, x += step)
        {
            result.Add(x);
        }

        return result;
    }

    /// <summary>Python <c>dict(mapping_or_pairs, **kwargs)</c>.</summary>
    private static OrderedDictionary<object, object?> DictFrom(CallArguments args, string function)
    {
        OrderedDictionary<object, object?> dict = TemplateValues.NewDict();
        if (args.Positional.Count > 1)
        {
            throw new TemplateRuntimeException($"{function}() expected at most 1 positional argument");
        }

        if (args.Positional.Count == 1)
        {
            object? source = args.Positional[0];
            if (source is OrderedDictionary<object, object?> other)
            {
                foreach (KeyValuePair<object, object?> pair in other)
                {
                    dict[pair.Key] = pair.Value;
                }
            }
            else
            {
                foreach (object? item in TemplateValues.Iterate(source))
                {
                    IReadOnlyList<object?> pair = TemplateValues.Iterate(item);
                    if (pair.Count != 2 || pair[0] is null)
                    {
                        throw new TemplateRuntimeException($"{function}() needs (key, value) pairs");
                    }

                    dict[pair[0]!] = pair[1];
                }
            }
        }

        foreach (KeyValuePair<string, object?> pair in args.Named)
        {
            dict[pair.Key] = pair.Value;
        }

        return dict;
    }

    private static BuiltinFunction Joiner(CallArguments args)
    {
        string separator = TemplateValues.ToStr(args.Get(0, "sep", ", "));
        bool used = false;
        return new BuiltinFunction("joiner", _ =>
        {
            if (!used)
            {
                used = true;
                return "";
            }

            return separator;
        });
    }

    private static readonly string[] s_days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    private static readonly string[] s_months =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    /// <summary>C <c>strftime</c> in the C locale (as Python on Linux), including glibc's <c>%-d</c> no-padding flag.</summary>
    public static string Strftime(DateTime t, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }

            char c = format[++i];
            bool noPad = false;
            if (c == '-' && i + 1 < format.Length)
            {
                noPad = true;
                c = format[++i];
            }

            string Pad(int value, int width) => noPad ? value.ToString(CultureInfo.InvariantCulture) : value.ToString(new string('0', width), CultureInfo.InvariantCulture);
            int hour12 = t.Hour % 12 == 0 ? 12 : t.Hour % 12;
            sb.Append(c switch
            {
                'a' => s_days[(int)t.DayOfWeek][..3],
                'A' => s_days[(int)t.DayOfWeek],
                'b' or 'h' => s_months[t.Month - 1][..3],
                'B' => s_months[t.Month - 1],
                'd' => Pad(t.Day, 2),
                'e' => noPad ? Pad(t.Day, 1) : t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'm' => Pad(t.Month, 2),
                'y' => Pad(t.Year % 100, 2),
                'Y' => t.Year.ToString(CultureInfo.InvariantCulture),
                'H' => Pad(t.Hour, 2),
                'I' => Pad(hour12, 2),
                'M' => Pad(t.Minute, 2),
                'S' => Pad(t.Second, 2),
                'f' => (t.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", CultureInfo.InvariantCulture),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => Pad(t.DayOfYear, 3),
                'w' => ((int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'u' => (t.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)t.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'D' => Strftime(t, "%m/%d/%y"),
                'F' => Strftime(t, "%Y-%m-%d"),
                'T' => Strftime(t, "%H:%M:%S"),
                'R' => Strftime(t, "%H:%M"),
                'c' => Strftime(t, "%a %b %e %H:%M:%S %Y"),
                'x' => Strftime(t, "%m/%d/%y"),
                'X' => Strftime(t, "%H:%M:%S"),
                'Z' or 'z' => "",
                'n' => "\n",
                't' => "\t",
                '%' => "%",
                _ => "%" + (noPad ? "-" : "") + c,
            });
        }

        return sb.ToString();
    }
}
