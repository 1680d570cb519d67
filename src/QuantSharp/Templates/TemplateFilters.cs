using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace QuantSharp.Templates;

/// <summary>
/// Jinja's built-in filters (<c>value | name(args)</c>), with Hugging Face's <c>tojson</c>: plain
/// <c>json.dumps(value, ensure_ascii=False, indent=…, separators=…, sort_keys=…)</c> without HTML escaping.
/// </summary>
internal static partial class TemplateFilters
{
    private static readonly HashSet<string> s_names =
    [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map",
        "max", "min", "pprint", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr",
        "sort", "string", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount",
    ];

    public static bool Exists(string name) => s_names.Contains(name);

    [GeneratedRegex(@"([-\s\(\{\[\<]+)")]
    private static partial Regex WordBeginningSplit();

    [GeneratedRegex(@"\w+")]
    private static partial Regex Word();

    /// <exception cref="TemplateRuntimeException">An unknown filter, bad arguments, or a value the filter cannot take.</exception>
    public static object? Apply(string name, object? value, CallArguments args)
    {
        switch (name)
        {
            case "safe" or "string":
                args.Check(name);
                return TemplateValues.ToStr(value);
            case "pprint":
                return TemplateValues.Repr(value);
            case "e" or "escape" or "forceescape":
                args.Check(name);
                return Escape(TemplateValues.ToStr(value));
            case "trim":
                args.Check(name, "chars");
                return PyStrings.Strip(TemplateValues.ToStr(value), args.Get(0, "chars") as string);
            case "lower": args.Check(name); return PyStrings.Lower(TemplateValues.ToStr(value));
            case "upper": args.Check(name); return PyStrings.Upper(TemplateValues.ToStr(value));
            case "capitalize": args.Check(name); return PyStrings.Capitalize(TemplateValues.ToStr(value));
            case "title": args.Check(name); return Title(TemplateValues.ToStr(value));
            case "replace":
                args.Check(name, "old", "new", "count");
                return PyStrings.Replace(TemplateValues.ToStr(value), TemplateValues.ToStr(args.Get(0, "old")),
                    TemplateValues.ToStr(args.Get(1, "new")), args.Get(2, "count") is object c ? TemplateValues.ToLong(c) : -1);
            case "center":
                args.Check(name, "width");
                return PyStrings.Center(TemplateValues.ToStr(value), TemplateValues.ToLong(args.Get(0, "width", 80L)));
            case "indent":
                args.Check(name, "width", "first", "blank");
                return Indent(TemplateValues.ToStr(value), args.Get(0, "width", 4L),
                    TemplateValues.IsTruthy(args.Get(1, "first", false)), TemplateValues.IsTruthy(args.Get(2, "blank", false)));
            case "truncate":
                args.Check(name, "length", "killwords", "end", "leeway");
                return Truncate(TemplateValues.ToStr(value), TemplateValues.ToLong(args.Get(0, "length", 255L)),
                    TemplateValues.IsTruthy(args.Get(1, "killwords", false)), TemplateValues.ToStr(args.Get(2, "end", "...")),
                    TemplateValues.ToLong(args.Get(3, "leeway", 5L)));
            case "wordcount":
                args.Check(name);
                return (long)Word().Count(TemplateValues.ToStr(value));
            case "format":
                object? formatArgs = args.Named.Count > 0 ? NamedToDict(args) : args.Positional.ToArray();
                return PyFormat.Percent(TemplateValues.ToStr(value), formatArgs);
            case "length" or "count":
                args.Check(name);
                return TemplateValues.Length(value);
            case "list":
                args.Check(name);
                return TemplateValues.Iterate(value).ToList();
            case "first":
                args.Check(name);
                IReadOnlyList<object?> firstItems = TemplateValues.Iterate(value);
                return firstItems.Count > 0 ? firstItems[0] : Undefined.WithHint("No first item, sequence was empty.");
            case "last":
                args.Check(name);
                IReadOnlyList<object?> lastItems = TemplateValues.Iterate(value);
                return lastItems.Count > 0 ? lastItems[^1] : Undefined.WithHint("No last item, sequence was empty.");
            case "reverse":
                args.Check(name);
                return value is string rs ? string.Concat(PyStrings.CodePoints(rs).Reverse()) : TemplateValues.Iterate(value).Reverse().ToList();
            case "join":
                args.Check(name, "d", "attribute");
                return Join(value, TemplateValues.ToStr(args.Get(0, "d", "")), args.Get(1, "attribute"));
            case "items":
                args.Check(name);
                return value switch
                {
                    Undefined => new List<object?>(),
                    OrderedDictionary<object, object?> dict => dict.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList(),
                    _ => throw new TemplateRuntimeException("Can only get item pairs from a mapping."),
                };
            case "d" or "default":
                args.Check(name, "default_value", "boolean");
                bool boolean = TemplateValues.IsTruthy(args.Get(1, "boolean", false));
                return value is Undefined || (boolean && !TemplateValues.IsTruthy(value)) ? args.Get(0, "default_value", "") : value;
            case "tojson":
                args.Check(name, "ensure_ascii", "indent", "separators", "sort_keys");
                return ToJson(value, args);
            case "int":
                args.Check(name, "default", "base");
                return ToInt(value, args.Get(0, "default", 0L), TemplateValues.ToLong(args.Get(1, "base", 10L)));
            case "float":
                args.Check(name, "default");
                return ToFloat(value) ?? args.Get(0, "default", 0.0);
            case "abs":
                args.Check(name);
                return value switch
                {
                    bool or long => (object)checked(Math.Abs(TemplateValues.ToLong(value))),
                    double d => (object)Math.Abs(d),
                    Undefined u => throw u.Fail(),
                    _ => throw new TemplateRuntimeException($"bad operand type for abs(): '{TemplateValues.TypeName(value)}'"),
                };
            case "round":
                args.Check(name, "precision", "method");
                return Round(value, TemplateValues.ToLong(args.Get(0, "precision", 0L)), TemplateValues.ToStr(args.Get(1, "method", "common")));
            case "attr":
                args.Check(name, "name");
                string attributeName = TemplateValues.ToStr(args.Get(0, "name"));
                return TemplateMembers.TryGetAttributeOnly(value, attributeName, out object? attribute) ? attribute : Undefined.ForMember(value, attributeName);
            case "map":
                return Map(value, args);
            case "select" or "reject":
                return SelectByTest(value, args, 0, attribute: null, keep: name == "select");
            case "selectattr" or "rejectattr":
                if (args.Positional.Count == 0)
                {
                    throw new TemplateRuntimeException($"{name}() needs an attribute name");
                }

                return SelectByTest(value, args, 1, TemplateValues.ToStr(args.Positional[0]), keep: name == "selectattr");
            case "unique":
                args.Check(name, "case_sensitive", "attribute");
                return Unique(value, TemplateValues.IsTruthy(args.Get(0, "case_sensitive", false)), args.Get(1, "attribute"));
            case "sort":
                args.Check(name, "reverse", "case_sensitive", "attribute");
                return Sort(TemplateValues.Iterate(value), TemplateValues.IsTruthy(args.Get(0, "reverse", false)),
                    TemplateValues.IsTruthy(args.Get(1, "case_sensitive", false)), args.Get(2, "attribute"));
            case "dictsort":
                args.Check(name, "case_sensitive", "by", "reverse");
                return DictSort(value, TemplateValues.IsTruthy(args.Get(0, "case_sensitive", false)),
                    TemplateValues.ToStr(args.Get(1, "by", "key")), TemplateValues.IsTruthy(args.Get(2, "reverse", false)));
            case "min" or "max":
                args.Check(name, "case_sensitive", "attribute");
                return MinMax(value, TemplateValues.IsTruthy(args.Get(0, "case_sensitive", false)), args.Get(1, "attribute"), name == "max");
            case "sum":
                args.Check(name, "attribute", "start");
                object? total = args.Get(1, "start", 0L);
                object? sumAttribute = args.Get(0, "attribute");
                foreach (object? item in TemplateValues.Iterate(value))
                {
                    total = PyOperators.Binary("+", total, sumAttribute is null ? item : AttributePath(item, sumAttribute));
                }

                return total;
            case "batch":
                args.Check(name, "linecount", "fill_with");
                return Batch(value, TemplateValues.ToLong(args.Get(0, "linecount")), args.TryGet(1, "fill_with", out object? fill), fill);
            default:
                throw new TemplateRuntimeException($"no filter named '{name}'");
        }
    }

    private static OrderedDictionary<object, object?> NamedToDict(CallArguments args)
    {
        OrderedDictionary<object, object?> dict = TemplateValues.NewDict();
        foreach (KeyValuePair<string, object?> pair in args.Named)
        {
            dict[pair.Key] = pair.Value;
        }

        return dict;
    }

    private static string Escape(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
        {
            sb.Append(c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&#34;",
                '\'' => "&#39;",
                _ => c.ToString(),
            });
        }

        return sb.ToString();
    }

    /// <summary>Jinja's <c>title</c> filter: upper-cases the first character after spaces, dashes and brackets.</summary>
    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (string item in WordBeginningSplit().Split(s))
        {
            if (item.Length > 0)
            {
                sb.Append(char.ToUpperInvariant(item[0])).Append(item[1..].ToLowerInvariant());
            }
        }

        return sb.ToString();
    }

    private static string Indent(string s, object? width, bool first, bool blank)
    {
        string indentation = width is string w ? w : PyStrings.Repeat(" ", TemplateValues.ToLong(width));
        List<string> lines = PyStrings.SplitLines(s + "\n");
        TemplateValues.CheckLength(s.Length + ((long)lines.Count * indentation.Length));
        string rv;
        if (blank)
        {
            rv = string.Join("\n" + indentation, lines);
        }
        else
        {
            rv = lines[0];
            if (lines.Count > 1)
            {
                rv += "\n" + string.Join("\n", lines.Skip(1).Select(line => line.Length > 0 ? indentation + line : line));
            }
        }

        return first ? indentation + rv : rv;
    }

    private static string Truncate(string s, long length, bool killWords, string end, long leeway)
    {
        if (length < end.Length)
        {
            throw new TemplateRuntimeException($"expected length >= {end.Length}, got {length}");
        }

        if (PyStrings.Length(s) <= length + leeway)
        {
            return s;
        }

        string head = PyStrings.Slice(s, null, length - end.Length, null);
        if (killWords)
        {
            return head + end;
        }

        int space = head.LastIndexOf(' ');
        return (space < 0 ? head : head[..space]) + end;
    }

    private static string Join(object? value, string separator, object? attribute)
    {
        var sb = new StringBuilder();
        bool first = true;
        foreach (object? item in TemplateValues.Iterate(value))
        {
            sb.Append(first ? "" : separator).Append(TemplateValues.ToStr(attribute is null ? item : AttributePath(item, attribute)));
            first = false;
            TemplateValues.CheckLength(sb.Length);
        }

        return sb.ToString();
    }

    private static string ToJson(object? value, CallArguments args)
    {
        object? indent = args.Get(1, "indent");
        string? indentText = indent switch
        {
            null => null,
            string s => s,
            _ => PyStrings.Repeat(" ", TemplateValues.ToLong(indent)),
        };
        string? itemSeparator = null;
        string? keySeparator = null;
        if (args.Get(2, "separators") is object separators)
        {
            IReadOnlyList<object?> pair = TemplateValues.Iterate(separators);
            if (pair.Count != 2)
            {
                throw new TemplateRuntimeException("tojson separators must be an (item_separator, key_separator) pair");
            }

            itemSeparator = TemplateValues.ToStr(pair[0]);
            keySeparator = TemplateValues.ToStr(pair[1]);
        }

        return TemplateJson.Dumps(value, TemplateValues.IsTruthy(args.Get(0, "ensure_ascii", false)), indentText, itemSeparator,
            keySeparator, TemplateValues.IsTruthy(args.Get(3, "sort_keys", false)));
    }

    /// <summary>Jinja's <c>int</c> filter: Python <c>int(value)</c>, else <c>int(float(value))</c>, else the default.</summary>
    private static object? ToInt(object? value, object? fallback, long numberBase)
    {
        switch (value)
        {
            case bool or long:
                return TemplateValues.ToLong(value);
            case double d:
                return double.IsFinite(d) && Math.Abs(d) < 9.2e18 ? (long)Math.Truncate(d) : fallback;
            case string s:
                string text = PyStrings.Strip(s).Replace("_", "");
                try
                {
                    if (numberBase == 10)
                    {
                        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed))
                        {
                            return parsed;
                        }
                    }
                    else if (numberBase is 2 or 8 or 16)
                    {
                        string digits = text.ToLowerInvariant();
                        string prefix = numberBase == 16 ? "0x" : numberBase == 8 ? "0o" : "0b";
                        digits = digits.StartsWith(prefix, StringComparison.Ordinal) ? digits[2..] : digits;
                        return Convert.ToInt64(digits, (int)numberBase);
                    }
                }
                catch (FormatException)
                {
                }
                catch (ArgumentException)
                {
                }
                catch (OverflowException)
                {
                }

                return ToFloat(s) is double f && double.IsFinite(f) && Math.Abs(f) < 9.2e18 ? (long)Math.Truncate(f) : fallback;
            default:
                return fallback;
        }
    }

    /// <summary>Python <c>float(value)</c>, or null where it would raise.</summary>
    private static double? ToFloat(object? value)
    {
        switch (value)
        {
            case bool or long or double:
                return TemplateValues.ToDouble(value);
            case string s:
                string text = PyStrings.Strip(s).Replace("_", "").ToLowerInvariant();
                return text switch
                {
                    "inf" or "+inf" or "infinity" or "+infinity" => double.PositiveInfinity,
                    "-inf" or "-infinity" => double.NegativeInfinity,
                    "nan" or "+nan" or "-nan" => double.NaN,
                    _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : null,
                };
            default:
                return null;
        }
    }

    private static object Round(object? value, long precision, string method)
    {
        if (value is Undefined u)
        {
            throw u.Fail();
        }

        if (method == "common")
        {
            if (value is bool or long)
            {
                return TemplateValues.ToLong(value);
            }

            double d = TemplateValues.ToDouble(value);
            return precision is >= 0 and <= 15 ? Math.Round(d, (int)precision, MidpointRounding.ToEven) : d;
        }

        double scale = Math.Pow(10, precision);
        double x = TemplateValues.ToDouble(value) * scale;
        return method switch
        {
            "ceil" => Math.Ceiling(x) / scale,
            "floor" => Math.Floor(x) / scale,
            _ => throw new TemplateRuntimeException("method must be common, ceil or floor"),
        };
    }

    /// <summary>Jinja's attribute getter: <c>"a.b.0"</c> walks items (numbers as indices), as <c>map(attribute=…)</c> does.</summary>
    private static object? AttributePath(object? item, object? attribute)
    {
        if (attribute is long or bool)
        {
            return TemplateMembers.GetItem(item, attribute);
        }

        foreach (string part in TemplateValues.ToStr(attribute).Split('.'))
        {
            object key = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long index) ? index : part;
            item = TemplateMembers.GetItem(item, key);
        }

        return item;
    }

    private static List<object?> Map(object? value, CallArguments args)
    {
        // Jinja's map and select family start with "if value:", so none or an empty value gives nothing.
        IReadOnlyList<object?> items = TemplateValues.IsTruthy(value) ? TemplateValues.Iterate(value) : [];
        if (args.Positional.Count == 0 && args.TryGet(-1, "attribute", out object? attribute))
        {
            bool hasDefault = args.TryGet(-1, "default", out object? fallback);
            return items.Select(item =>
            {
                object? result = AttributePath(item, attribute);
                return hasDefault && result is Undefined ? fallback : result;
            }).ToList();
        }

        if (args.Positional.Count == 0)
        {
            throw new TemplateRuntimeException("map() needs a filter name or attribute=");
        }

        string filter = TemplateValues.ToStr(args.Positional[0]);
        if (!Exists(filter))
        {
            throw new TemplateRuntimeException($"no filter named '{filter}'");
        }

        var rest = new CallArguments(args.Positional.Skip(1).ToList(), args.Named);
        return items.Select(item => Apply(filter, item, rest)).ToList();
    }

    private static List<object?> SelectByTest(object? value, CallArguments args, int testIndex, string? attribute, bool keep)
    {
        Func<object?, bool> predicate;
        if (args.Positional.Count > testIndex)
        {
            string test = TemplateValues.ToStr(args.Positional[testIndex]);
            if (!TemplateTests.Exists(test))
            {
                throw new TemplateRuntimeException($"no test named '{test}'");
            }

            var rest = new CallArguments(args.Positional.Skip(testIndex + 1).ToList(), args.Named);
            predicate = v => TemplateTests.Apply(test, v, rest);
        }
        else
        {
            predicate = TemplateValues.IsTruthy;
        }

        IReadOnlyList<object?> items = TemplateValues.IsTruthy(value) ? TemplateValues.Iterate(value) : [];
        return items
            .Where(item => predicate(attribute is null ? item : AttributePath(item, attribute)) == keep)
            .ToList();
    }

    private static object? SortKey(object? item, bool caseSensitive, object? attribute)
    {
        object? key = attribute is null ? item : AttributePath(item, attribute);
        return !caseSensitive && key is string s ? PyStrings.Lower(s) : key;
    }

    private static List<object?> Unique(object? value, bool caseSensitive, object? attribute)
    {
        var seen = new HashSet<object>(TemplateValues.PyKeyComparer.Instance);
        var result = new List<object?>();
        foreach (object? item in TemplateValues.Iterate(value))
        {
            object key = SortKey(item, caseSensitive, attribute) ?? s_noneKey;
            if (seen.Add(key))
            {
                result.Add(item);
            }
        }

        return result;
    }

    private static readonly object s_noneKey = new();

    private static List<object?> Sort(IEnumerable<object?> items, bool reverse, bool caseSensitive, object? attribute)
    {
        IEnumerable<object?[]> keyed = items.Select(item =>
        {
            if (attribute is null)
            {
                return new[] { SortKey(item, caseSensitive, null), item };
            }

            // Jinja sorts by several comma-separated attributes, in order.
            object?[] keys = [.. TemplateValues.ToStr(attribute).Split(',').Select(a => SortKey(item, caseSensitive, a.Trim())), item];
            return keys;
        }).ToList();
        Comparer<object?[]> comparer = Comparer<object?[]>.Create((x, y) =>
        {
            for (int i = 0; i < x.Length - 1; i++)
            {
                int c = TemplateValues.PyEquals(x[i], y[i]) ? 0 : TemplateValues.Compare(x[i], y[i]);
                if (c != 0)
                {
                    return c;
                }
            }

            return 0;
        });
        IEnumerable<object?[]> sorted = reverse ? keyed.OrderByDescending(k => k, comparer) : keyed.OrderBy(k => k, comparer);
        return sorted.Select(k => k[^1]).ToList();
    }

    private static List<object?> DictSort(object? value, bool caseSensitive, string by, bool reverse)
    {
        if (value is not OrderedDictionary<object, object?> dict)
        {
            throw new TemplateRuntimeException("dictsort needs a mapping");
        }

        int position = by switch
        {
            "key" => 0,
            "value" => 1,
            _ => throw new TemplateRuntimeException("You can only sort by either \"key\" or \"value\""),
        };
        var pairs = dict.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList();
        return Sort(pairs, reverse, caseSensitive, (long)position);
    }

    private static object? MinMax(object? value, bool caseSensitive, object? attribute, bool max)
    {
        IReadOnlyList<object?> items = TemplateValues.Iterate(value);
        if (items.Count == 0)
        {
            return Undefined.WithHint("No aggregated item, sequence was empty.");
        }

        object? best = items[0];
        object? bestKey = SortKey(best, caseSensitive, attribute);
        foreach (object? item in items.Skip(1))
        {
            object? key = SortKey(item, caseSensitive, attribute);
            int c = TemplateValues.Compare(key, bestKey);
            if (max ? c > 0 : c < 0)
            {
                best = item;
                bestKey = key;
            }
        }

        return best;
    }

    private static List<object?> Batch(object? value, long size, bool fill, object? fillWith)
    {
        if (size <= 0)
        {
            throw new TemplateRuntimeException("batch size must be positive");
        }

        var result = new List<object?>();
        List<object?>? current = null;
        foreach (object? item in TemplateValues.Iterate(value))
        {
            current ??= [];
            current.Add(item);
            if (current.Count == size)
            {
                result.Add(current);
                current = null;
            }
        }

        if (current is not null)
        {
            if (fill && fillWith is not null)
            {
                TemplateValues.CheckListLength(size);
                while (current.Count < size)
                {
                    current.Add(fillWith);
                }
            }

            result.Add(current);
        }

        return result;
    }
}
