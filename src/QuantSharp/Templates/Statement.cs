namespace QuantSharp.Templates;

/// <summary>A node of the parsed template body: output text, <c>{{ … }}</c>, or a <c>{% … %}</c> block.</summary>
internal abstract class Statement(int line, int column)
{
    public int Line { get; } = line;

    public int Column { get; } = column;
}

/// <summary>Literal template text.</summary>
internal sealed class TextStatement(int line, int column, string text) : Statement(line, column)
{
    public string Text { get; } = text;
}

/// <summary><c>{{ value }}</c>.</summary>
internal sealed class OutputStatement(int line, int column, Expression value) : Statement(line, column)
{
    public Expression Value { get; } = value;
}

/// <summary><c>{% if %}…{% elif %}…{% else %}…{% endif %}</c>.</summary>
internal sealed class IfStatement(int line, int column, (Expression Test, Statement[] Body)[] branches, Statement[]? otherwise)
    : Statement(line, column)
{
    public (Expression Test, Statement[] Body)[] Branches { get; } = branches;

    public Statement[]? Otherwise { get; } = otherwise;
}

/// <summary>Where a <c>for</c> or <c>set</c> stores values: a name, a tuple of targets, or <c>ns.attr</c>.</summary>
internal abstract class AssignTarget;

/// <summary>A plain variable name.</summary>
internal sealed class NameTarget(string name) : AssignTarget
{
    public string Name { get; } = name;
}

/// <summary><c>a, b</c>: unpacks a sequence of exactly that length.</summary>
internal sealed class TupleTarget(AssignTarget[] items) : AssignTarget
{
    public AssignTarget[] Items { get; } = items;
}

/// <summary><c>ns.attr</c>, where <c>ns</c> must hold a <see cref="TemplateNamespace"/>.</summary>
internal sealed class NamespaceTarget(string name, string attribute) : AssignTarget
{
    public string Name { get; } = name;

    public string Attribute { get; } = attribute;
}

/// <summary><c>{% for target in iterable [if filter] %}…{% else %}…{% endfor %}</c>.</summary>
internal sealed class ForStatement(int line, int column, AssignTarget target, Expression iterable, Expression? filter,
    Statement[] body, Statement[]? otherwise) : Statement(line, column)
{
    public AssignTarget Target { get; } = target;

    public Expression Iterable { get; } = iterable;

    public Expression? Filter { get; } = filter;

    public Statement[] Body { get; } = body;

    public Statement[]? Otherwise { get; } = otherwise;
}

/// <summary><c>{% break %}</c> or <c>{% continue %}</c>.</summary>
internal sealed class LoopControlStatement(int line, int column, bool isBreak) : Statement(line, column)
{
    public bool IsBreak { get; } = isBreak;
}

/// <summary><c>{% set target = value %}</c>.</summary>
internal sealed class SetStatement(int line, int column, AssignTarget target, Expression value) : Statement(line, column)
{
    public AssignTarget Target { get; } = target;

    public Expression Value { get; } = value;
}

/// <summary><c>{% set name | filters %}…{% endset %}</c>: captures the rendered body.</summary>
internal sealed class SetBlockStatement(int line, int column, AssignTarget target, FilterExpression? filter, Statement[] body)
    : Statement(line, column)
{
    public AssignTarget Target { get; } = target;

    /// <summary>The filter chain applied to the captured text; its innermost <see cref="FilterExpression.Value"/> is null.</summary>
    public FilterExpression? Filter { get; } = filter;

    public Statement[] Body { get; } = body;
}

/// <summary>A parameter of a macro or call block, with its default.</summary>
internal sealed record MacroParameter(string Name, Expression? Default);

/// <summary><c>{% macro name(params) %}…{% endmacro %}</c>.</summary>
internal sealed class MacroStatement(int line, int column, string name, MacroParameter[] parameters, Statement[] body)
    : Statement(line, column)
{
    public string Name { get; } = name;

    public MacroParameter[] Parameters { get; } = parameters;

    public Statement[] Body { get; } = body;
}

/// <summary><c>{% call(params) macro(args) %}…{% endcall %}</c>: the body becomes the macro's <c>caller()</c>.</summary>
internal sealed class CallBlockStatement(int line, int column, CallExpression call, MacroStatement caller) : Statement(line, column)
{
    public CallExpression Call { get; } = call;

    public MacroStatement Caller { get; } = caller;
}

/// <summary><c>{% filter f %}…{% endfilter %}</c>.</summary>
internal sealed class FilterBlockStatement(int line, int column, FilterExpression filter, Statement[] body) : Statement(line, column)
{
    public FilterExpression Filter { get; } = filter;

    public Statement[] Body { get; } = body;
}

/// <summary>
/// A body rendered in a scope of its own (<c>{% with %}</c>, with its assignments) or in the current scope
/// (<c>{% generation %}</c>, Hugging Face's marker for assistant tokens, which renders as its body).
/// </summary>
internal sealed class ScopedBlockStatement(int line, int column, (AssignTarget Target, Expression Value)[] assignments,
    Statement[] body, bool newScope) : Statement(line, column)
{
    public (AssignTarget Target, Expression Value)[] Assignments { get; } = assignments;

    public Statement[] Body { get; } = body;

    public bool NewScope { get; } = newScope;
}
