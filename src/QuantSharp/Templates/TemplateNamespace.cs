namespace QuantSharp.Templates;

/// <summary>
/// The object <c>namespace(a=1)</c> returns: the one value whose attributes a template may assign
/// (<c>{% set ns.a = 2 %}</c>), which is how state escapes a loop body's scope.
/// </summary>
internal sealed class TemplateNamespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}
