using System.Text;

namespace QuantSharp.Templates;

/// <summary>
/// The Python methods a template may call on values: the non-mutating <c>str</c> methods, <c>dict.items/keys/
/// values/get</c>, <c>list.index/count</c>. Mutating methods (<c>append</c>, <c>pop</c>, <c>update</c>…) are refused,
/// as Hugging Face's immutable sandbox refuses them.
/// </summary>
internal static class TemplateMethods
{
    private static readonly HashSet<string> s_stringMethods =
    [
        "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "upper", "lower",
        "title", "capitalize", "swapcase", "casefold", "replace", "find", "rfind", "index", "rindex", "count",
        "format", "join", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "islower", "isupper",
        "zfill", "center", "ljust", "rjust", "partition", "rpartition", "removeprefix", "removesuffix",
    ];

    private static readonly HashSet<string> s_dictMethods = ["items", "keys", "values", "get", "copy"];
    private static readonly HashSet<string> s_listMethods = ["index", "count", "copy"];
    private static readonly HashSet<string> s_dictMutators = ["pop", "popitem", "setdefault", "update", "clear"];
    private static readonly HashSet<string> s_listMutators = ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"];

    public static bool Has(object target, string name) => target switch
    {
        string => s_stringMethods.Contains(name),
        OrderedDictionary<object, object?> => s_dictMethods.Contains(name),
        List<object?> => s_listMethods.Contains(name),
        object?[] => name is "index" or "count",
        _ => false,
    };

    public static bool IsMutating(object target, string name) => target switch
    {
        OrderedDictionary<object, object?> => s_dictMutators.Contains(name),
        List<object?> => s_listMutators.Contains(name),
        _ => false,
    };

    public static object? Invoke(object target, string name, CallArguments args) => target switch
    {
        string s => InvokeString(s, name, args),
        OrderedDictionary<object, object?> dict => InvokeDict(dict, name, args),
        List<object?> or object?[] => InvokeSequence((IReadOnlyList<object?>)target, name, args),
        _ => throw new TemplateRuntimeException($"'{TemplateValues.TypeName(target)}' object has no method '{name}'"),
    };

    private static object? InvokeDict(OrderedDictionary<object, object?> dict, string name, CallArguments args)
    {
        switch (name)
        {
            case "items":
                args.Check("items");
                return dict.Select(p => (object?)new object?[] { p.Key, p.Value }).ToList();
            case "keys":
                args.Check("keys");
                return dict.Keys.Cast<object?>().ToList();
            case "values":
                args.Check("values");
                return dict.Values.ToList();
            case "copy":
                args.Check("copy");
                OrderedDictionary<object, object?> copy = TemplateValues.NewDict();
                foreach (KeyValuePair<object, object?> pair in dict)
                {
                    copy[pair.Key] = pair.Value;
                }

                return copy;
            default:
                args.Check("get", "key", "default");
                object? key = args.Get(0, "key");
                return key is not null && dict.TryGetValue(key, out object? value) ? value : args.Get(1, "default");
        }
    }

    private static object? InvokeSequence(IReadOnlyList<object?> items, string name, CallArguments args)
    {
        if (name == "copy")
        {
            return items.ToList();
        }

        args.Check(name, "value");
        object? x = args.Get(0, "value");
        if (name == "count")
        {
            return (long)items.Count(i => TemplateValues.PyEquals(i, x));
        }

        for (int i = 0; i < items.Count; i++)
        {
            if (TemplateValues.PyEquals(items[i], x))
            {
                return (long)i;
            }
        }

        throw new TemplateRuntimeException($"{TemplateValues.Repr(x)} is not in list");
    }

    private static string Str(object? value, string method, string parameter) => value as string ??
        throw new TemplateRuntimeException($"{method}() argument '{parameter}' must be str, not {TemplateValues.TypeName(value)}");

    private static string? OptionalStr(object? value, string method, string parameter) =>
        value is null ? null : Str(value, method, parameter);

    private static object? InvokeString(string s, string name, CallArguments args)
    {
        switch (name)
        {
            case "startswith" or "endswith":
                args.Check(name, "prefix", "start", "end");
                string part = Range(s, args.Get(1, "start"), args.Get(2, "end"));
                object? affix = args.Get(0, "prefix");
                IEnumerable<object?> options = affix is object?[] tuple ? tuple : [affix];
                return options.Any(o => name == "startswith"
                    ? part.StartsWith(Str(o, name, "prefix"), StringComparison.Ordinal)
                    : part.EndsWith(Str(o, name, "prefix"), StringComparison.Ordinal));
            case "strip":
                args.Check(name, "chars");
                return PyStrings.Strip(s, OptionalStr(args.Get(0, "chars"), name, "chars"));
            case "lstrip":
                args.Check(name, "chars");
                return PyStrings.LStrip(s, OptionalStr(args.Get(0, "chars"), name, "chars"));
            case "rstrip":
                args.Check(name, "chars");
                return PyStrings.RStrip(s, OptionalStr(args.Get(0, "chars"), name, "chars"));
            case "split" or "rsplit":
                args.Check(name, "sep", "maxsplit");
                string? sep = OptionalStr(args.Get(0, "sep"), name, "sep");
                long max = TemplateValues.ToLong(args.Get(1, "maxsplit", -1L));
                return name == "split" ? PyStrings.Split(s, sep, max) : PyStrings.RSplit(s, sep, max);
            case "splitlines":
                args.Check(name);
                return PyStrings.SplitLines(s).Cast<object?>().ToList();
            case "upper": args.Check(name); return PyStrings.Upper(s);
            case "lower" or "casefold": args.Check(name); return PyStrings.Lower(s);
            case "title": args.Check(name); return PyStrings.Title(s);
            case "capitalize": args.Check(name); return PyStrings.Capitalize(s);
            case "swapcase":
                args.Check(name);
                return string.Concat(s.Select(c => char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)));
            case "replace":
                args.Check(name, "old", "new", "count");
                return PyStrings.Replace(s, Str(args.Get(0, "old"), name, "old"), Str(args.Get(1, "new"), name, "new"),
                    TemplateValues.ToLong(args.Get(2, "count", -1L)));
            case "find" or "rfind" or "index" or "rindex":
                args.Check(name, "sub", "start", "end");
                long found = Find(s, Str(args.Get(0, "sub"), name, "sub"), args.Get(1, "start"), args.Get(2, "end"), name.StartsWith('r'));
                if (found < 0 && name.Contains("index", StringComparison.Ordinal))
                {
                    throw new TemplateRuntimeException("substring not found");
                }

                return found;
            case "count":
                args.Check(name, "sub", "start", "end");
                string hay = Range(s, args.Get(1, "start"), args.Get(2, "end"));
                string sub = Str(args.Get(0, "sub"), name, "sub");
                if (sub.Length == 0)
                {
                    return (long)PyStrings.Length(hay) + 1;
                }

                long n = 0;
                for (int i = hay.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = hay.IndexOf(sub, i + sub.Length, StringComparison.Ordinal))
                {
                    n++;
                }

                return n;
            case "format":
                return PyFormat.Format(s, args);
            case "join":
                args.Check(name, "iterable");
                var sb = new StringBuilder();
                bool first = true;
                foreach (object? item in TemplateValues.Iterate(args.Get(0, "iterable")))
                {
                    sb.Append(first ? "" : s).Append(item as string ??
                        throw new TemplateRuntimeException($"sequence item: expected str instance, {TemplateValues.TypeName(item)} found"));
                    first = false;
                    TemplateValues.CheckLength(sb.Length);
                }

                return sb.ToString();
            case "isdigit" or "isdecimal" or "isnumeric":
                args.Check(name);
                return s.Length > 0 && s.All(char.IsDigit);
            case "isalpha": args.Check(name); return s.Length > 0 && s.All(char.IsLetter);
            case "isalnum": args.Check(name); return s.Length > 0 && s.All(char.IsLetterOrDigit);
            case "isspace": args.Check(name); return s.Length > 0 && s.All(PyStrings.IsSpace);
            case "islower": args.Check(name); return PyStrings.IsLower(s);
            case "isupper": args.Check(name); return PyStrings.IsUpper(s);
            case "zfill":
                args.Check(name, "width");
                long zw = TemplateValues.ToLong(args.Get(0, "width"));
                int len = PyStrings.Length(s);
                if (zw <= len)
                {
                    return s;
                }

                int signLength = s.Length > 0 && s[0] is '+' or '-' ? 1 : 0;
                return s[..signLength] + PyStrings.Repeat("0", zw - len) + s[signLength..];
            case "center" or "ljust" or "rjust":
                args.Check(name, "width", "fillchar");
                long width = TemplateValues.ToLong(args.Get(0, "width"));
                string fill = Str(args.Get(1, "fillchar", " "), name, "fillchar");
                if (name == "center")
                {
                    return PyStrings.Center(s, width, fill);
                }

                string padding = PyStrings.Repeat(fill, width - PyStrings.Length(s));
                return name == "ljust" ? s + padding : padding + s;
            case "partition" or "rpartition":
                args.Check(name, "sep");
                string separator = Str(args.Get(0, "sep"), name, "sep");
                int at = name == "partition" ? s.IndexOf(separator, StringComparison.Ordinal) : s.LastIndexOf(separator, StringComparison.Ordinal);
                if (at < 0)
                {
                    return name == "partition" ? new object?[] { s, "", "" } : new object?[] { "", "", s };
                }

                return new object?[] { s[..at], separator, s[(at + separator.Length)..] };
            case "removeprefix":
                args.Check(name, "prefix");
                string prefix = Str(args.Get(0, "prefix"), name, "prefix");
                return s.StartsWith(prefix, StringComparison.Ordinal) ? s[prefix.Length..] : s;
            case "removesuffix":
                args.Check(name, "suffix");
                string suffix = Str(args.Get(0, "suffix"), name, "suffix");
                return suffix.Length > 0 && s.EndsWith(suffix, StringComparison.Ordinal) ? s[..^suffix.Length] : s;
            default:
                throw new TemplateRuntimeException($"'str' object has no method '{name}'");
        }
    }

    /// <summary>The part of <paramref name="s"/> between Python-style optional start/end indices.</summary>
    private static string Range(string s, object? start, object? end) =>
        start is null && end is null ? s : PyStrings.Slice(s, start is null ? null : TemplateValues.ToLong(start), end is null ? null : TemplateValues.ToLong(end), null);

    private static long Find(string s, string sub, object? start, object? end, bool fromRight)
    {
        string hay = Range(s, start, end);
        int index = fromRight ? hay.LastIndexOf(sub, StringComparison.Ordinal) : hay.IndexOf(sub, StringComparison.Ordinal);
        if (index < 0)
        {
            return -1;
        }

        long offset = 0;
        if (start is not null)
        {
            long st = TemplateValues.ToLong(start);
            long length = PyStrings.Length(s);
            offset = st < 0 ? Math.Max(0, st + length) : Math.Min(st, length);
        }

        return offset + PyStrings.CodePointIndex(hay, index);
    }
}
