using System.Globalization;
using System.Text;

namespace QuantSharp.Templates;

/// <summary>
/// Python semantics of template values. Values are <c>null</c> (None), <see cref="Undefined"/>, <see cref="bool"/>,
/// <see cref="long"/> (int), <see cref="double"/> (float), <see cref="string"/>, <c>List&lt;object?&gt;</c> (list),
/// <c>object?[]</c> (tuple), <c>OrderedDictionary&lt;object, object?&gt;</c> (dict, insertion-ordered like Python's),
/// <see cref="TemplateNamespace"/>, <see cref="LoopContext"/>, <see cref="TemplateMacro"/> and callables.
/// </summary>
internal static class TemplateValues
{
    private const int MaxReprDepth = 256;

    public static OrderedDictionary<object, object?> NewDict() => new(PyKeyComparer.Instance);

    /// <summary>Python's <c>type(value).__name__</c>.</summary>
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        OrderedDictionary<object, object?> => "dict",
        TemplateNamespace => "Namespace",
        LoopContext => "LoopContext",
        TemplateMacro => "Macro",
        BoundMethod => "builtin_function_or_method",
        BuiltinFunction => "function",
        _ => value.GetType().Name,
    };

    /// <summary>Jinja's <c>object_type_repr</c>, as used in undefined messages ("dict object", "None").</summary>
    public static string ObjectTypeRepr(object? value) => value is null ? "None" : $"{TypeName(value)} object";

    /// <summary>Python truthiness; <see cref="Undefined"/> is false.</summary>
    public static bool IsTruthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        object?[] tuple => tuple.Length > 0,
        OrderedDictionary<object, object?> dict => dict.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? value) => value is bool or long or double;

    /// <summary>Python <c>str(value)</c>, which is how <c>{{ value }}</c> prints.</summary>
    public static string ToStr(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(value),
    };

    /// <summary>Python <c>repr(value)</c>.</summary>
    public static string Repr(object? value)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, value, 0);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? value, int depth)
    {
        if (depth > MaxReprDepth)
        {
            throw new TemplateRuntimeException("maximum recursion depth exceeded while getting the repr of an object");
        }

        CheckLength(sb.Length);
        switch (value)
        {
            case null: sb.Append("None"); break;
            case Undefined: sb.Append("Undefined"); break;
            case bool b: sb.Append(b ? "True" : "False"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(FloatRepr(d)); break;
            case string s: sb.Append(PyStrings.Repr(s)); break;
            case List<object?> list:
                sb.Append('[');
                AppendItems(sb, list, depth);
                sb.Append(']');
                break;
            case object?[] tuple:
                sb.Append('(');
                AppendItems(sb, tuple, depth);
                sb.Append(tuple.Length == 1 ? ",)" : ")");
                break;
            case OrderedDictionary<object, object?> dict:
                sb.Append('{');
                bool first = true;
                foreach (KeyValuePair<object, object?> pair in dict)
                {
                    sb.Append(first ? "" : ", ");
                    first = false;
                    AppendRepr(sb, pair.Key, depth + 1);
                    sb.Append(": ");
                    AppendRepr(sb, pair.Value, depth + 1);
                }

                sb.Append('}');
                break;
            case TemplateNamespace ns:
                sb.Append("<Namespace {");
                bool firstAttribute = true;
                foreach (KeyValuePair<string, object?> pair in ns.Attributes)
                {
                    sb.Append(firstAttribute ? "" : ", ").Append(PyStrings.Repr(pair.Key)).Append(": ");
                    firstAttribute = false;
                    AppendRepr(sb, pair.Value, depth + 1);
                }

                sb.Append("}>");
                break;
            case TemplateMacro macro: sb.Append("<Macro '").Append(macro.Definition.Name).Append("'>"); break;
            case BoundMethod method:
                sb.Append("<built-in method ").Append(method.Name).Append(" of ").Append(TypeName(method.Target)).Append(" object>");
                break;
            case BuiltinFunction function: sb.Append("<function ").Append(function.Name).Append('>'); break;
            default: sb.Append('<').Append(TypeName(value)).Append(" object>"); break;
        }
    }

    private static void AppendItems(StringBuilder sb, IEnumerable<object?> items, int depth)
    {
        bool first = true;
        foreach (object? item in items)
        {
            sb.Append(first ? "" : ", ");
            first = false;
            AppendRepr(sb, item, depth + 1);
        }
    }

    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, fixed notation for 1e-4 &lt;= |x| &lt; 1e16.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d))
        {
            return "nan";
        }

        if (double.IsInfinity(d))
        {
            return d > 0 ? "inf" : "-inf";
        }

        string sign = double.IsNegative(d) ? "-" : "";
        if (d == 0)
        {
            return sign + "0.0";
        }

        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int exponent = 0;
        int e = r.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(r[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            r = r[..e];
        }

        int dot = r.IndexOf('.');
        string integerPart = dot < 0 ? r : r[..dot];
        string digits = integerPart + (dot < 0 ? "" : r[(dot + 1)..]);
        int point = integerPart.Length + exponent;
        int leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.TrimStart('0').TrimEnd('0');
        point -= leadingZeros;
        int scientific = point - 1;
        if (scientific is >= -4 and < 16)
        {
            if (point <= 0)
            {
                return $"{sign}0.{new string('0', -point)}{digits}";
            }

            return point >= digits.Length
                ? $"{sign}{digits}{new string('0', point - digits.Length)}.0"
                : $"{sign}{digits[..point]}.{digits[point..]}";
        }

        string mantissa = digits.Length > 1 ? $"{digits[0]}.{digits[1..]}" : digits;
        string exponentText = Math.Abs(scientific).ToString("00", CultureInfo.InvariantCulture);
        return $"{sign}{mantissa}e{(scientific < 0 ? '-' : '+')}{exponentText}";
    }

    /// <summary>Python <c>==</c>: numbers by value across bool/int/float, containers element-wise.</summary>
    public static bool PyEquals(object? a, object? b)
    {
        if (ReferenceEquals(a, b))
        {
            return a is not double d || !double.IsNaN(d);
        }

        switch (a)
        {
            case null: return b is null;
            case Undefined: return b is Undefined;
            case string s: return b is string t && string.Equals(s, t, StringComparison.Ordinal);
            case bool or long or double:
                if (!IsNumber(b))
                {
                    return false;
                }

                if (a is double || b is double)
                {
                    return ToDouble(a) == ToDouble(b);
                }

                return ToLong(a) == ToLong(b);
            case List<object?> list: return b is List<object?> other && SequenceEquals(list, other);
            case object?[] tuple: return b is object?[] otherTuple && SequenceEquals(tuple, otherTuple);
            case OrderedDictionary<object, object?> dict:
                if (b is not OrderedDictionary<object, object?> otherDict || otherDict.Count != dict.Count)
                {
                    return false;
                }

                foreach (KeyValuePair<object, object?> pair in dict)
                {
                    if (!otherDict.TryGetValue(pair.Key, out object? v) || !PyEquals(pair.Value, v))
                    {
                        return false;
                    }
                }

                return true;
            default: return false;
        }
    }

    private static bool SequenceEquals(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (int i = 0; i < a.Count; i++)
        {
            if (!PyEquals(a[i], b[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Python ordering (<c>&lt;</c>): numbers, strings (by code unit), lists and tuples lexicographically.</summary>
    public static int Compare(object? a, object? b, string op = "<")
    {
        if (IsNumber(a) && IsNumber(b))
        {
            return a is double || b is double ? ToDouble(a).CompareTo(ToDouble(b)) : ToLong(a).CompareTo(ToLong(b));
        }

        if (a is string s && b is string t)
        {
            return Math.Sign(string.CompareOrdinal(s, t));
        }

        if ((a is List<object?> && b is List<object?>) || (a is object?[] && b is object?[]))
        {
            var x = (IReadOnlyList<object?>)a;
            var y = (IReadOnlyList<object?>)b;
            for (int i = 0; i < Math.Min(x.Count, y.Count); i++)
            {
                if (!PyEquals(x[i], y[i]))
                {
                    return Compare(x[i], y[i], op);
                }
            }

            return x.Count.CompareTo(y.Count);
        }

        if (a is Undefined u)
        {
            throw u.Fail();
        }

        if (b is Undefined v)
        {
            throw v.Fail();
        }

        throw new TemplateRuntimeException(
            $"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static double ToDouble(object? value) => value switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        double d => d,
        _ => throw new TemplateRuntimeException($"expected a number, got '{TypeName(value)}'"),
    };

    public static long ToLong(object? value) => value switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        _ => throw new TemplateRuntimeException($"'{TypeName(value)}' object cannot be interpreted as an integer"),
    };

    /// <summary>Python <c>iter(value)</c>: list/tuple items, dict keys, string code points; undefined is empty.</summary>
    public static IReadOnlyList<object?> Iterate(object? value) => value switch
    {
        List<object?> list => list,
        object?[] tuple => tuple,
        OrderedDictionary<object, object?> dict => [.. dict.Keys],
        string s => PyStrings.CodePoints(s),
        Undefined => [],
        TemplateNamespace ns => throw new TemplateRuntimeException("'Namespace' object is not iterable"),
        _ => throw new TemplateRuntimeException($"'{TypeName(value)}' object is not iterable"),
    };

    /// <summary>Python <c>len(value)</c>; undefined has length 0.</summary>
    public static long Length(object? value) => value switch
    {
        string s => PyStrings.Length(s),
        List<object?> list => list.Count,
        object?[] tuple => tuple.Length,
        OrderedDictionary<object, object?> dict => dict.Count,
        Undefined => 0,
        _ => throw new TemplateRuntimeException($"object of type '{TypeName(value)}' has no len()"),
    };

    /// <summary>Fails when a string (or output) of <paramref name="length"/> characters would exceed the limit.</summary>
    public static void CheckLength(long length)
    {
        if (length > TemplateLimits.MaxOutputLength)
        {
            throw new TemplateRuntimeException(
                $"a string of {length} characters exceeds the limit of {TemplateLimits.MaxOutputLength} characters");
        }
    }

    /// <summary>Fails when a list of <paramref name="count"/> items would exceed the limit.</summary>
    public static void CheckListLength(long count)
    {
        if (count > TemplateLimits.MaxListLength)
        {
            throw new TemplateRuntimeException(
                $"a list of {count} items exceeds the limit of {TemplateLimits.MaxListLength} items");
        }
    }

    /// <summary>Dict keys and set members by Python equality and hash (1, 1.0 and True are one key).</summary>
    internal sealed class PyKeyComparer : IEqualityComparer<object>
    {
        public static readonly PyKeyComparer Instance = new();

        public new bool Equals(object? x, object? y) => PyEquals(x, y);

        public int GetHashCode(object obj) => obj switch
        {
            bool b => (b ? 1L : 0L).GetHashCode(),
            long l => l.GetHashCode(),
            double d => d == Math.Floor(d) && Math.Abs(d) < 9e18 ? ((long)d).GetHashCode() : d.GetHashCode(),
            string s => StringComparer.Ordinal.GetHashCode(s),
            object?[] tuple => tuple.Aggregate(17, (h, item) => HashCode.Combine(h, item is null ? 0 : GetHashCode(item))),
            List<object?> or OrderedDictionary<object, object?> =>
                throw new TemplateRuntimeException($"unhashable type: '{TypeName(obj)}'"),
            Undefined => 0,
            _ => RuntimeHelpers.GetHashCode(obj),
        };
    }
}
