namespace QuantSharp.Templates;

/// <summary>A macro value: its definition plus the scope it was defined in (its closure).</summary>
internal sealed class TemplateMacro(MacroStatement definition, Scope closure)
{
    public MacroStatement Definition { get; } = definition;

    public Scope Closure { get; } = closure;
}
