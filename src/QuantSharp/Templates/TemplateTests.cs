namespace QuantSharp.Templates;

/// <summary>Jinja's tests, used as <c>value is name(args)</c> and by <c>select</c>/<c>reject</c>.</summary>
internal static class TemplateTests
{
    private static readonly HashSet<string> s_names =
    [
        "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "sequence", "iterable",
        "boolean", "true", "false", "odd", "even", "divisibleby", "lower", "upper", "equalto", "eq", "ne", "sameas",
        "in", "callable", "escaped", "gt", "greaterthan", "lt", "lessthan", "ge", "le", "filter", "test",
    ];

    public static bool Exists(string name) => s_names.Contains(name);

    /// <exception cref="TemplateRuntimeException">An unknown test, or arguments the test cannot take.</exception>
    public static bool Apply(string name, object? value, CallArguments args)
    {
        switch (name)
        {
            case "defined": return value is not Undefined;
            case "undefined": return value is Undefined;
            case "none": return value is null;
            case "string": return value is string;
            case "number": return value is bool or long or double;
            case "integer": return value is long;
            case "float": return value is double;
            case "boolean": return value is bool;
            case "true": return value is true;
            case "false": return value is false;
            case "mapping": return value is OrderedDictionary<object, object?>;
            case "sequence": return value is string or List<object?> or object?[] or OrderedDictionary<object, object?>;
            case "iterable": return value is string or List<object?> or object?[] or OrderedDictionary<object, object?> or Undefined;
            case "callable": return value is BuiltinFunction or BoundMethod or TemplateMacro;
            case "escaped": return false;
            case "lower": return PyStrings.IsLower(TemplateValues.ToStr(value));
            case "upper": return PyStrings.IsUpper(TemplateValues.ToStr(value));
            case "odd": return Integer(value, name) % 2 != 0;
            case "even": return Integer(value, name) % 2 == 0;
            case "filter": return value is string f && TemplateFilters.Exists(f);
            case "test": return value is string t && Exists(t);
        }

        object? other = Argument(args, name);
        return name switch
        {
            "divisibleby" => Divisible(value, other),
            "equalto" or "eq" => TemplateValues.PyEquals(value, other),
            "ne" => !TemplateValues.PyEquals(value, other),
            "sameas" => SameAs(value, other),
            "in" => PyOperators.Contains(other, value),
            "gt" or "greaterthan" => TemplateValues.Compare(value, other, ">") > 0,
            "lt" or "lessthan" => TemplateValues.Compare(value, other, "<") < 0,
            "ge" => TemplateValues.Compare(value, other, ">=") >= 0,
            "le" => TemplateValues.Compare(value, other, "<=") <= 0,
            _ => throw new TemplateRuntimeException($"no test named '{name}'"),
        };
    }

    private static object? Argument(CallArguments args, string test)
    {
        if (args.Positional.Count + args.Named.Count != 1)
        {
            throw new TemplateRuntimeException($"test '{test}' takes exactly one argument");
        }

        return args.Positional.Count == 1 ? args.Positional[0] : args.Named[0].Value;
    }

    private static long Integer(object? value, string test) => value is long or bool
        ? TemplateValues.ToLong(value)
        : value is Undefined u ? throw u.Fail() : throw new TemplateRuntimeException($"test '{test}' needs an integer, got '{TemplateValues.TypeName(value)}'");

    private static bool Divisible(object? value, object? divisor)
    {
        object? remainder = PyOperators.Binary("%", value, divisor);
        return TemplateValues.PyEquals(remainder, 0L);
    }

    /// <summary>Python's <c>is</c>: none and booleans by value, small integers by value (CPython caches them), else identity.</summary>
    private static bool SameAs(object? a, object? b) => a switch
    {
        null => b is null,
        bool x => b is bool y && x == y,
        long x => b is long y && x == y && x is >= -5 and <= 256,
        _ => ReferenceEquals(a, b),
    };
}
