namespace QuantSharp.Templates;

/// <summary>
/// A node of a parsed expression. <see cref="Depth"/> (1 + the deepest child) lets the parser reject input that
/// would nest deeper than <see cref="TemplateLimits.MaxNestingDepth"/>, so evaluation cannot overflow the stack.
/// </summary>
internal abstract class Expression(int line, int column, params Expression?[] children)
{
    public int Line { get; } = line;

    public int Column { get; } = column;

    public int Depth { get; } = 1 + (children.Length == 0 ? 0 : children.Max(c => c?.Depth ?? 0));
}

/// <summary>A constant: string, number, boolean or none.</summary>
internal sealed class LiteralExpression(int line, int column, object? value) : Expression(line, column)
{
    public object? Value { get; } = value;
}

/// <summary>A variable reference.</summary>
internal sealed class NameExpression(int line, int column, string name) : Expression(line, column)
{
    public string Name { get; } = name;
}

/// <summary><c>[a, b]</c>.</summary>
internal sealed class ListExpression(int line, int column, Expression[] items) : Expression(line, column, items)
{
    public Expression[] Items { get; } = items;
}

/// <summary><c>(a, b)</c> or <c>a, b</c>.</summary>
internal sealed class TupleExpression(int line, int column, Expression[] items) : Expression(line, column, items)
{
    public Expression[] Items { get; } = items;
}

/// <summary><c>{k: v, …}</c>.</summary>
internal sealed class DictExpression(int line, int column, Expression[] keys, Expression[] values)
    : Expression(line, column, [.. keys, .. values])
{
    public Expression[] Keys { get; } = keys;

    public Expression[] Values { get; } = values;
}

/// <summary><c>not x</c>, <c>-x</c>, <c>+x</c>.</summary>
internal sealed class UnaryExpression(int line, int column, string op, Expression operand) : Expression(line, column, operand)
{
    public string Operator { get; } = op;

    public Expression Operand { get; } = operand;
}

/// <summary>Arithmetic (<c>+ - * / // % **</c>) and the short-circuit <c>and</c>/<c>or</c>.</summary>
internal sealed class BinaryExpression(int line, int column, string op, Expression left, Expression right)
    : Expression(line, column, left, right)
{
    public string Operator { get; } = op;

    public Expression Left { get; } = left;

    public Expression Right { get; } = right;
}

/// <summary><c>a ~ b ~ c</c>: string concatenation of each operand's <c>str()</c>.</summary>
internal sealed class ConcatExpression(int line, int column, Expression[] operands) : Expression(line, column, operands)
{
    public Expression[] Operands { get; } = operands;
}

/// <summary><c>a == b</c>, <c>a &lt; b &lt; c</c> (chained as in Python), <c>a in b</c>, <c>a not in b</c>.</summary>
internal sealed class CompareExpression(int line, int column, Expression first, (string Operator, Expression Operand)[] rest)
    : Expression(line, column, [first, .. rest.Select(r => r.Operand)])
{
    public Expression First { get; } = first;

    public (string Operator, Expression Operand)[] Rest { get; } = rest;
}

/// <summary><c>a if test else b</c>; a missing <c>else</c> yields undefined.</summary>
internal sealed class ConditionalExpression(int line, int column, Expression test, Expression then, Expression? otherwise)
    : Expression(line, column, test, then, otherwise)
{
    public Expression Test { get; } = test;

    public Expression Then { get; } = then;

    public Expression? Otherwise { get; } = otherwise;
}

/// <summary><c>obj.name</c>: attribute first, then item.</summary>
internal sealed class AttributeExpression(int line, int column, Expression target, string name) : Expression(line, column, target)
{
    public Expression Target { get; } = target;

    public string Name { get; } = name;
}

/// <summary><c>obj[key]</c>: item first, then attribute; <c>obj[a:b:c]</c> when the key is a <see cref="SliceExpression"/>.</summary>
internal sealed class ItemExpression(int line, int column, Expression target, Expression key) : Expression(line, column, target, key)
{
    public Expression Target { get; } = target;

    public Expression Key { get; } = key;
}

/// <summary>The <c>a:b:c</c> inside brackets.</summary>
internal sealed class SliceExpression(int line, int column, Expression? start, Expression? stop, Expression? step)
    : Expression(line, column, start, stop, step)
{
    public Expression? Start { get; } = start;

    public Expression? Stop { get; } = stop;

    public Expression? Step { get; } = step;
}

/// <summary>Positional and keyword argument expressions of a call, filter or test.</summary>
internal sealed record ArgumentList(Expression[] Positional, (string Name, Expression Value)[] Named)
{
    public static readonly ArgumentList None = new([], []);

    public Expression?[] All => [.. Positional, .. Named.Select(n => n.Value)];
}

/// <summary><c>f(args)</c>.</summary>
internal sealed class CallExpression(int line, int column, Expression callee, ArgumentList arguments)
    : Expression(line, column, [callee, .. arguments.All])
{
    public Expression Callee { get; } = callee;

    public ArgumentList Arguments { get; } = arguments;
}

/// <summary><c>value | name(args)</c>; <see cref="Value"/> is null inside a <c>{% filter %}</c> block's chain.</summary>
internal sealed class FilterExpression(int line, int column, Expression? value, string name, ArgumentList arguments)
    : Expression(line, column, [value, .. arguments.All])
{
    public Expression? Value { get; } = value;

    public string Name { get; } = name;

    public ArgumentList Arguments { get; } = arguments;
}

/// <summary><c>value is [not] name(args)</c>.</summary>
internal sealed class TestExpression(int line, int column, Expression value, string name, ArgumentList arguments, bool negated)
    : Expression(line, column, [value, .. arguments.All])
{
    public Expression Value { get; } = value;

    public string Name { get; } = name;

    public ArgumentList Arguments { get; } = arguments;

    public bool Negated { get; } = negated;
}
