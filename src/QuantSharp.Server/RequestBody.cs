using System.Text.Json;

namespace QuantSharp.Server;

/// <summary>Typed reads of a JSON request body's fields: a field of the wrong type or out of range is a 400 naming it.
/// Fields the server does not know are ignored, as OpenAI-compatible servers do.</summary>
internal readonly struct RequestBody
{
    private readonly JsonElement _root;

    public RequestBody(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.BadRequest("the request body must be a JSON object");
        }

        _root = root;
    }

    public bool Has(string name) => _root.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement? Element(string name) => _root.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public string? String(string name)
    {
        if (Element(name) is not JsonElement v)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw ApiException.BadRequest($"'{name}' must be a string", name);
    }

    public bool? Bool(string name)
    {
        if (Element(name) is not JsonElement v)
        {
            return null;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiException.BadRequest($"'{name}' must be a boolean", name),
        };
    }

    public long? Integer(string name, long min, long max)
    {
        if (Element(name) is not JsonElement v)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long value))
        {
            throw ApiException.BadRequest($"'{name}' must be an integer", name);
        }

        return value < min || value > max ? throw ApiException.BadRequest($"'{name}' is {value}; it must be between {min} and {max}", name) : value;
    }

    public float? Number(string name, double min, double max)
    {
        if (Element(name) is not JsonElement v)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || !double.IsFinite(value))
        {
            throw ApiException.BadRequest($"'{name}' must be a number", name);
        }

        return value < min || value > max ? throw ApiException.BadRequest($"'{name}' is {value}; it must be between {min} and {max}", name) : (float)value;
    }

    /// <summary><c>stop</c>: a string or an array of up to 4 strings.</summary>
    public string[] StopStrings(string name)
    {
        if (Element(name) is not JsonElement v)
        {
            return [];
        }

        if (v.ValueKind == JsonValueKind.String)
        {
            return [v.GetString()!];
        }

        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() > 4 || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            throw ApiException.BadRequest($"'{name}' must be a string or an array of at most 4 strings", name);
        }

        return [.. v.EnumerateArray().Select(e => e.GetString()!)];
    }
}
