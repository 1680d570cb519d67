namespace QuantSharp.Templates;

/// <summary>Python's arithmetic, comparison and membership operators on template values.</summary>
internal static class PyOperators
{
    public static object? Binary(string op, object? a, object? b)
    {
        if (a is Undefined ua)
        {
            throw ua.Fail();
        }

        if (b is Undefined ub)
        {
            throw ub.Fail();
        }

        try
        {
            return op switch
            {
                "+" => Add(a, b),
                "-" => Numeric(op, a, b, (x, y) => checked(x - y), (x, y) => x - y),
                "*" => Multiply(a, b),
                "/" => Divide(a, b),
                "//" => FloorDivide(a, b),
                "%" => a is string format ? PyFormat.Percent(format, b) : Modulo(a, b),
                "**" => Power(a, b),
                _ => throw new TemplateRuntimeException($"unknown operator '{op}'"),
            };
        }
        catch (OverflowException)
        {
            throw new TemplateRuntimeException($"integer overflow in '{op}'");
        }
    }

    private static object Add(object? a, object? b)
    {
        switch (a)
        {
            case string s when b is string t:
                TemplateValues.CheckLength((long)s.Length + t.Length);
                return s + t;
            case string:
                throw new TemplateRuntimeException($"can only concatenate str (not \"{TemplateValues.TypeName(b)}\") to str");
            case List<object?> list when b is List<object?> other:
                TemplateValues.CheckListLength((long)list.Count + other.Count);
                return new List<object?>(list.Concat(other));
            case List<object?>:
                throw new TemplateRuntimeException($"can only concatenate list (not \"{TemplateValues.TypeName(b)}\") to list");
            case object?[] tuple when b is object?[] otherTuple:
                TemplateValues.CheckListLength((long)tuple.Length + otherTuple.Length);
                return (object?[])[.. tuple, .. otherTuple];
            default:
                return Numeric("+", a, b, (x, y) => checked(x + y), (x, y) => x + y);
        }
    }

    private static object Numeric(string op, object? a, object? b, Func<long, long, long> integer, Func<double, double, double> real)
    {
        if (!TemplateValues.IsNumber(a) || !TemplateValues.IsNumber(b))
        {
            throw Unsupported(op, a, b);
        }

        // Both arms cast to object: a bare ?: of double and long would turn every int result into a float.
        return a is double || b is double
            ? (object)real(TemplateValues.ToDouble(a), TemplateValues.ToDouble(b))
            : (object)integer(TemplateValues.ToLong(a), TemplateValues.ToLong(b));
    }

    private static TemplateRuntimeException Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{TemplateValues.TypeName(a)}' and '{TemplateValues.TypeName(b)}'");

    private static object Multiply(object? a, object? b)
    {
        if (a is bool or long && b is string or List<object?> or object?[])
        {
            (a, b) = (b, a);
        }

        if (b is bool or long)
        {
            long count = TemplateValues.ToLong(b);
            switch (a)
            {
                case string s:
                    return PyStrings.Repeat(s, count);
                case List<object?> list:
                    return new List<object?>(RepeatItems(list, count));
                case object?[] tuple:
                    return RepeatItems(tuple, count).ToArray();
            }
        }

        return Numeric("*", a, b, (x, y) => checked(x * y), (x, y) => x * y);
    }

    private static IEnumerable<object?> RepeatItems(IReadOnlyList<object?> items, long count)
    {
        if (count <= 0 || items.Count == 0)
        {
            return [];
        }

        TemplateValues.CheckListLength(items.Count * count);
        return Enumerable.Repeat(items, (int)count).SelectMany(x => x);
    }

    private static object Divide(object? a, object? b)
    {
        if (!TemplateValues.IsNumber(a) || !TemplateValues.IsNumber(b))
        {
            throw Unsupported("/", a, b);
        }

        double y = TemplateValues.ToDouble(b);
        if (y == 0)
        {
            throw new TemplateRuntimeException("division by zero");
        }

        return TemplateValues.ToDouble(a) / y;
    }

    private static object FloorDivide(object? a, object? b)
    {
        if (!TemplateValues.IsNumber(a) || !TemplateValues.IsNumber(b))
        {
            throw Unsupported("//", a, b);
        }

        if (a is double || b is double)
        {
            double y = TemplateValues.ToDouble(b);
            if (y == 0)
            {
                throw new TemplateRuntimeException("float floor division by zero");
            }

            return Math.Floor(TemplateValues.ToDouble(a) / y);
        }

        long x = TemplateValues.ToLong(a);
        long d = TemplateValues.ToLong(b);
        if (d == 0)
        {
            throw new TemplateRuntimeException("integer division or modulo by zero");
        }

        long q = checked(x / d);
        return x % d != 0 && (x < 0) != (d < 0) ? q - 1 : q;
    }

    private static object Modulo(object? a, object? b)
    {
        if (!TemplateValues.IsNumber(a) || !TemplateValues.IsNumber(b))
        {
            throw Unsupported("%", a, b);
        }

        if (a is double || b is double)
        {
            double x = TemplateValues.ToDouble(a);
            double y = TemplateValues.ToDouble(b);
            if (y == 0)
            {
                throw new TemplateRuntimeException("float modulo");
            }

            double r = x % y;
            return r != 0 && (r < 0) != (y < 0) ? r + y : r;
        }

        long xi = TemplateValues.ToLong(a);
        long yi = TemplateValues.ToLong(b);
        if (yi == 0)
        {
            throw new TemplateRuntimeException("integer division or modulo by zero");
        }

        long ri = xi % yi;
        return ri != 0 && (ri < 0) != (yi < 0) ? ri + yi : ri;
    }

    private static object Power(object? a, object? b)
    {
        if (!TemplateValues.IsNumber(a) || !TemplateValues.IsNumber(b))
        {
            throw Unsupported("** or pow()", a, b);
        }

        if (a is double || b is double || TemplateValues.ToLong(b) < 0)
        {
            return Math.Pow(TemplateValues.ToDouble(a), TemplateValues.ToDouble(b));
        }

        long x = TemplateValues.ToLong(a);
        long e = TemplateValues.ToLong(b);
        long result = 1;
        while (e > 0)
        {
            if ((e & 1) != 0)
            {
                result = checked(result * x);
            }

            e >>= 1;
            if (e > 0)
            {
                x = checked(x * x);
            }
        }

        return result;
    }

    public static object? Negate(object? value) => value switch
    {
        Undefined u => throw u.Fail(),
        bool or long => (object)checked(-TemplateValues.ToLong(value)),
        double d => (object)(-d),
        _ => throw new TemplateRuntimeException($"bad operand type for unary -: '{TemplateValues.TypeName(value)}'"),
    };

    public static object? Positive(object? value) => value switch
    {
        Undefined u => throw u.Fail(),
        bool or long => (object)TemplateValues.ToLong(value),
        double d => (object)d,
        _ => throw new TemplateRuntimeException($"bad operand type for unary +: '{TemplateValues.TypeName(value)}'"),
    };

    /// <summary>One comparison of a (possibly chained) comparison expression.</summary>
    public static bool Compare(string op, object? a, object? b) => op switch
    {
        "==" => TemplateValues.PyEquals(a, b),
        "!=" => !TemplateValues.PyEquals(a, b),
        "<" => TemplateValues.Compare(a, b, op) < 0,
        "<=" => TemplateValues.Compare(a, b, op) <= 0,
        ">" => TemplateValues.Compare(a, b, op) > 0,
        ">=" => TemplateValues.Compare(a, b, op) >= 0,
        "in" => Contains(b, a),
        "not in" => !Contains(b, a),
        _ => throw new TemplateRuntimeException($"unknown comparison '{op}'"),
    };

    /// <summary>Python <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                if (item is not string sub)
                {
                    throw new TemplateRuntimeException(
                        $"'in <string>' requires string as left operand, not {TemplateValues.TypeName(item)}");
                }

                return s.Contains(sub, StringComparison.Ordinal);
            case List<object?> or object?[]:
                return ((IReadOnlyList<object?>)container).Any(x => TemplateValues.PyEquals(x, item));
            case OrderedDictionary<object, object?> dict:
                return item is not null && dict.ContainsKey(item);
            case Undefined:
                return false;
            default:
                throw new TemplateRuntimeException($"argument of type '{TemplateValues.TypeName(container)}' is not iterable");
        }
    }
}
