namespace QuantSharp.Templates;

/// <summary>The <c>loop</c> variable inside a <c>for</c> body: position, neighbours and <c>cycle</c>.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items, int depth0)
{
    public int Index0 { get; set; }

    /// <summary>The attribute <paramref name="name"/> as Jinja's <c>LoopContext</c> exposes it; null when it has none.</summary>
    public bool TryGetAttribute(string name, out object? value)
    {
        int count = items.Count;
        value = name switch
        {
            "index" => (long)Index0 + 1,
            "index0" => (long)Index0,
            "revindex" => (long)(count - Index0),
            "revindex0" => (long)(count - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == count - 1,
            "length" => (long)count,
            "depth" => (long)depth0 + 1,
            "depth0" => (long)depth0,
            "previtem" => Index0 > 0 ? items[Index0 - 1] : Undefined.WithHint("there is no previous item"),
            "nextitem" => Index0 + 1 < count ? items[Index0 + 1] : Undefined.WithHint("there is no next item"),
            "cycle" => new BuiltinFunction("cycle", Cycle),
            _ => null,
        };
        return value is not null;
    }

    private object? Cycle(CallArguments arguments)
    {
        if (arguments.Positional.Count == 0)
        {
            throw new TemplateRuntimeException("no items for cycling given");
        }

        return arguments.Positional[Index0 % arguments.Positional.Count];
    }
}
