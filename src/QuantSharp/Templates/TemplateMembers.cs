namespace QuantSharp.Templates;

/// <summary>
/// <c>obj.name</c>, <c>obj[key]</c> and <c>obj[a:b:c]</c> as Jinja's immutable sandbox resolves them: attribute
/// access tries the attribute (a method, a namespace field, a loop property) before the item, subscription the
/// item before the attribute; anything missing is <see cref="Undefined"/>; methods that mutate are refused.
/// </summary>
internal static class TemplateMembers
{
    public static object? GetAttribute(object? target, string name)
    {
        if (target is Undefined undefined)
        {
            throw undefined.Fail();
        }

        if (TryGetAttributeOnly(target, name, out object? value) || TryGetItem(target, name, out value))
        {
            return value;
        }

        return Undefined.ForMember(target, name);
    }

    public static object? GetItem(object? target, object? key)
    {
        if (target is Undefined undefined)
        {
            throw undefined.Fail();
        }

        if (TryGetItem(target, key, out object? value) || (key is string name && TryGetAttributeOnly(target, name, out value)))
        {
            return value;
        }

        return Undefined.ForMember(target, key);
    }

    /// <summary>An attribute proper: bound methods, namespace fields, loop properties; a mutating method is refused.</summary>
    public static bool TryGetAttributeOnly(object? target, string name, out object? value)
    {
        value = null;
        if (target is null || name.StartsWith('_'))
        {
            return false;
        }

        switch (target)
        {
            case TemplateNamespace ns:
                return ns.Attributes.TryGetValue(name, out value);
            case LoopContext loop:
                return loop.TryGetAttribute(name, out value);
            default:
                if (TemplateMethods.Has(target, name))
                {
                    value = new BoundMethod(target, name);
                    return true;
                }

                if (TemplateMethods.IsMutating(target, name))
                {
                    value = Undefined.WithHint(
                        $"access to attribute {PyStrings.Repr(name)} of {PyStrings.Repr(TemplateValues.TypeName(target))} object is unsafe.");
                    return true;
                }

                return false;
        }
    }

    private static bool TryGetItem(object? target, object? key, out object? value)
    {
        value = null;
        switch (target)
        {
            case OrderedDictionary<object, object?> dict:
                return key is not null and not List<object?> and not OrderedDictionary<object, object?> &&
                       dict.TryGetValue(key, out value);
            case List<object?> or object?[] when key is long or bool:
                var items = (IReadOnlyList<object?>)target;
                long index = TemplateValues.ToLong(key);
                index = index < 0 ? index + items.Count : index;
                if (index >= 0 && index < items.Count)
                {
                    value = items[(int)index];
                    return true;
                }

                return false;
            case string s when key is long or bool:
                value = PyStrings.At(s, TemplateValues.ToLong(key));
                return value is not null;
            default:
                return false;
        }
    }

    /// <summary>Python slicing of a string, list or tuple; bounds must be integers or none, else undefined.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is Undefined undefined)
        {
            throw undefined.Fail();
        }

        if (!TryIndex(start, out long? from) || !TryIndex(stop, out long? to) || !TryIndex(step, out long? by))
        {
            return Undefined.WithHint("slice indices must be integers or None");
        }

        switch (target)
        {
            case string s:
                return PyStrings.Slice(s, from, to, by);
            case List<object?> list:
                return PyStrings.SliceIndices(list.Count, from, to, by).Select(i => list[i]).ToList();
            case object?[] tuple:
                return PyStrings.SliceIndices(tuple.Length, from, to, by).Select(i => tuple[i]).ToArray();
            default:
                return Undefined.WithHint($"{TemplateValues.ObjectTypeRepr(target)} is not subscriptable");
        }
    }

    private static bool TryIndex(object? value, out long? index)
    {
        index = value switch
        {
            long l => l,
            bool b => b ? 1 : 0,
            _ => null,
        };
        return value is null or long or bool;
    }
}
