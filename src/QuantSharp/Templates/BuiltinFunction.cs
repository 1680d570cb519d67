namespace QuantSharp.Templates;

/// <summary>A function a template can call (<c>range</c>, <c>namespace</c>, <c>raise_exception</c>, <c>loop.cycle</c>…).</summary>
internal sealed class BuiltinFunction(string name, Func<CallArguments, object?> invoke)
{
    public string Name { get; } = name;

    public object? Invoke(CallArguments arguments) => invoke(arguments);
}

/// <summary>A method looked up on a value (<c>content.strip</c>, <c>message.items</c>), called later.</summary>
internal sealed class BoundMethod(object target, string name)
{
    public object Target { get; } = target;

    public string Name { get; } = name;
}
