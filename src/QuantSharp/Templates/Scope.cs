namespace QuantSharp.Templates;

/// <summary>
/// Variables visible at one point of a render. As in Jinja, a <c>for</c> iteration, a macro call and a
/// <c>with</c> block each get a child scope (so <c>set</c> inside a loop does not leak out), while
/// <c>if</c> does not.
/// </summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

    public bool TryGet(string name, out object? value)
    {
        for (Scope? s = this; s is not null; s = s.Parent)
        {
            if (s._variables.TryGetValue(name, out value))
            {
                return true;
            }
        }

        value = null;
        return false;
    }

    public Scope? Parent { get; } = parent;

    /// <summary>Defines or overwrites <paramref name="name"/> in this scope only.</summary>
    public void Set(string name, object? value) => _variables[name] = value;
}
