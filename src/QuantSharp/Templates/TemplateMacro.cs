namespace QuantSharp.Templates;

/// <summary>A macro value: its definition plus the scope it was defined in (its closure).</summary>
internal sealed class TemplateMacro(MacroStatement definition, Scope closure, TemplateMacro? caller = null)
{
    public MacroStatement Definition { get; } = definition;

    public Scope Closure { get; } = closure;

    /// <summary>For a macro invoked by <c>{% call %}</c>: the block body, bound to <c>caller</c> inside the macro.</summary>
    public TemplateMacro? Caller { get; } = caller;
}
