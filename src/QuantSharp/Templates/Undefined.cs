namespace QuantSharp.Templates;

/// <summary>
/// Jinja's default <c>Undefined</c>: what a missing variable, key or attribute evaluates to. It prints as the empty
/// string, is falsy, iterates as empty and has length 0; any other use (arithmetic, attribute access, a call,
/// <c>tojson</c>) fails with the message Jinja gives, e.g. <c>'dict object' has no attribute 'content'</c>.
/// </summary>
internal sealed class Undefined
{
    private Undefined(string message) => Message = message;

    /// <summary>What an error about using this value says.</summary>
    public string Message { get; }

    /// <summary>An unknown variable name.</summary>
    public static Undefined ForName(string name) => new($"{PyStrings.Repr(name)} is undefined");

    /// <summary>A missing attribute (string key) or element (any other key) of <paramref name="owner"/>.</summary>
    public static Undefined ForMember(object? owner, object? key)
    {
        string ownerRepr = TemplateValues.ObjectTypeRepr(owner);
        return key is string name
            ? new Undefined($"{PyStrings.Repr(ownerRepr)} has no attribute {PyStrings.Repr(name)}")
            : new Undefined($"{ownerRepr} has no element {TemplateValues.Repr(key)}");
    }

    /// <summary>An undefined with a custom explanation (e.g. "No first item, sequence was empty.").</summary>
    public static Undefined WithHint(string hint) => new(hint);

    /// <summary>The error to throw when the template uses this value in a way only a defined value supports.</summary>
    public TemplateRuntimeException Fail() => new(Message);
}
