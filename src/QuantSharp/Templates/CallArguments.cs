namespace QuantSharp.Templates;

/// <summary>Evaluated arguments of a call, filter or test: positional values, then keyword values in source order.</summary>
internal sealed class CallArguments
{
    public static readonly CallArguments Empty = new([], []);

    public CallArguments(List<object?> positional, List<KeyValuePair<string, object?>> named)
    {
        Positional = positional;
        Named = named;
    }

    public List<object?> Positional { get; }

    public List<KeyValuePair<string, object?>> Named { get; }

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
    public object? Get(int index, string name, object? fallback = null) =>
        TryGet(index, name, out object? value) ? value : fallback;

    public bool TryGet(int index, string name, out object? value)
    {
        if (index >= 0 && index < Positional.Count)
        {
            value = Positional[index];
            return true;
        }

        foreach (KeyValuePair<string, object?> pair in Named)
        {
            if (pair.Key == name)
            {
                value = pair.Value;
                return true;
            }
        }

        value = null;
        return false;
    }

    /// <summary>Rejects extra positional arguments and unknown keywords, as Python's call binding would.</summary>
    public void Check(string function, params string[] parameters)
    {
        if (Positional.Count > parameters.Length)
        {
            throw new TemplateRuntimeException(
                $"{function}() takes at most {parameters.Length} argument(s) ({Positional.Count} given)");
        }

        foreach (KeyValuePair<string, object?> pair in Named)
        {
            int at = Array.IndexOf(parameters, pair.Key);
            if (at < 0)
            {
                throw new TemplateRuntimeException($"{function}() got an unexpected keyword argument '{pair.Key}'");
            }

            if (at < Positional.Count)
            {
                throw new TemplateRuntimeException($"{function}() got multiple values for argument '{pair.Key}'");
            }
        }
    }
}
