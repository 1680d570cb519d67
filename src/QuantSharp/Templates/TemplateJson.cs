using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QuantSharp.Templates;

/// <summary>
/// JSON at the template's edges: input <see cref="JsonNode"/>s become template values (as Python's
/// <c>json.loads</c> would make them), and <c>tojson</c> writes values as Python's <c>json.dumps</c> does.
/// </summary>
internal static class TemplateJson
{
    private const int MaxDepth = 512;

    /// <summary>Converts input JSON: objects keep key order, integers stay integers, <c>1.0</c> stays a float.</summary>
    public static object? FromNode(JsonNode? node, int depth = 0)
    {
        if (depth > MaxDepth)
        {
            throw new ChatTemplateException($"input JSON nests deeper than {MaxDepth} levels");
        }

        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                OrderedDictionary<object, object?> dict = TemplateValues.NewDict();
                foreach (KeyValuePair<string, JsonNode?> pair in obj)
                {
                    dict[pair.Key] = FromNode(pair.Value, depth + 1);
                }

                return dict;
            case JsonArray array:
                var list = new List<object?>(array.Count);
                foreach (JsonNode? item in array)
                {
                    list.Add(FromNode(item, depth + 1));
                }

                return list;
            case JsonValue value:
                return FromValue(value);
            default:
                throw new ChatTemplateException($"unsupported JSON node {node.GetType().Name}");
        }
    }

    private static object? FromValue(JsonValue value)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String: return value.GetValue<string>();
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Null or JsonValueKind.Undefined: return null;
            case JsonValueKind.Number:
                if (value.TryGetValue(out JsonElement element))
                {
                    return FromNumberText(element.GetRawText());
                }

                if (value.TryGetValue(out double d))
                {
                    return d;
                }

                if (value.TryGetValue(out float f))
                {
                    return (double)f;
                }

                if (value.TryGetValue(out decimal m))
                {
                    return (double)m;
                }

                return FromNumberText(value.ToJsonString());
            default:
                throw new ChatTemplateException($"unsupported JSON value {value.ToJsonString()}");
        }
    }

    private static object FromNumberText(string text)
    {
        if (text.AsSpan().IndexOfAny(".eE") < 0 &&
            long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
        {
            return l;
        }

        return double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Python's <c>json.dumps(value, ensure_ascii, indent, separators, sort_keys)</c>: by default
    /// <c>", "</c> and <c>": "</c>, or <c>","</c> between items when indenting.
    /// </summary>
    public static string Dumps(object? value, bool ensureAscii, string? indent, string? itemSeparator, string? keySeparator, bool sortKeys)
    {
        var writer = new Writer(ensureAscii, indent, itemSeparator ?? (indent is null ? ", " : ","), keySeparator ?? ": ", sortKeys);
        writer.Write(value, 0);
        return writer.ToString();
    }

    private sealed class Writer(bool ensureAscii, string? indent, string itemSeparator, string keySeparator, bool sortKeys)
    {
        private readonly StringBuilder _sb = new();

        public override string ToString() => _sb.ToString();

        public void Write(object? value, int level)
        {
            if (level > MaxDepth)
            {
                throw new TemplateRuntimeException("Circular reference detected or JSON nested too deeply");
            }

            TemplateValues.CheckLength(_sb.Length);
            switch (value)
            {
                case null: _sb.Append("null"); break;
                case bool b: _sb.Append(b ? "true" : "false"); break;
                case long l: _sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case double d: _sb.Append(FloatText(d)); break;
                case string s: WriteString(s); break;
                case List<object?> or object?[]:
                    var items = (IReadOnlyList<object?>)value;
                    if (items.Count == 0)
                    {
                        _sb.Append("[]");
                        break;
                    }

                    _sb.Append('[');
                    for (int i = 0; i < items.Count; i++)
                    {
                        _sb.Append(i == 0 ? "" : itemSeparator);
                        NewLine(level + 1);
                        Write(items[i], level + 1);
                    }

                    NewLine(level);
                    _sb.Append(']');
                    break;
                case OrderedDictionary<object, object?> dict:
                    if (dict.Count == 0)
                    {
                        _sb.Append("{}");
                        break;
                    }

                    IEnumerable<KeyValuePair<object, object?>> pairs = dict;
                    if (sortKeys)
                    {
                        var sorted = dict.ToList();
                        sorted.Sort((x, y) => TemplateValues.Compare(x.Key, y.Key));
                        pairs = sorted;
                    }

                    _sb.Append('{');
                    bool first = true;
                    foreach (KeyValuePair<object, object?> pair in pairs)
                    {
                        _sb.Append(first ? "" : itemSeparator);
                        first = false;
                        NewLine(level + 1);
                        WriteString(KeyText(pair.Key));
                        _sb.Append(keySeparator);
                        Write(pair.Value, level + 1);
                    }

                    NewLine(level);
                    _sb.Append('}');
                    break;
                default:
                    throw new TemplateRuntimeException($"Object of type {TemplateValues.TypeName(value)} is not JSON serializable");
            }
        }

        private void NewLine(int level)
        {
            if (indent is not null)
            {
                _sb.Append('\n');
                for (int i = 0; i < level; i++)
                {
                    _sb.Append(indent);
                }
            }
        }

        private static string KeyText(object key) => key switch
        {
            string s => s,
            bool b => b ? "true" : "false",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => FloatText(d),
            _ => throw new TemplateRuntimeException(
                $"keys must be str, int, float, bool or None, not {TemplateValues.TypeName(key)}"),
        };

        private static string FloatText(double d) =>
            double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : TemplateValues.FloatRepr(d);

        private void WriteString(string s)
        {
            _sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': _sb.Append("\\\""); break;
                    case '\\': _sb.Append("\\\\"); break;
                    case '\n': _sb.Append("\\n"); break;
                    case '\r': _sb.Append("\\r"); break;
                    case '\t': _sb.Append("\\t"); break;
                    case '\b': _sb.Append("\\b"); break;
                    case '\f': _sb.Append("\\f"); break;
                    default:
                        if (c < 0x20 || (ensureAscii && c > 0x7e))
                        {
                            _sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        }
                        else
                        {
                            _sb.Append(c);
                        }

                        break;
                }
            }

            _sb.Append('"');
        }
    }
}
