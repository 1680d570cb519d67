using System.Text;
using System.Text.Json;

namespace QuantSharp.Quantization;

/// <summary>
/// The <c>quantization_config</c> block of a quantized folder's <c>config.json</c> (see docs/formats.md):
/// <code>
/// "quantization_config": {
///   "quant_method": "quantsharp", "format_version": 1, "scheme": "int4", "name": "int4-g128-asym",
///   "bits": 4, "group_size": 128, "sym": false, "double_quant": false, "ternary_granularity": null,
///   "modules": ["model.layers.0.self_attn.q_proj", …]
/// }
/// </code>
/// Written with <see cref="Utf8JsonWriter"/> and read with <see cref="JsonDocument"/> (no reflection serializer).
/// </summary>
public sealed class QuantizationConfig
{
    /// <summary>Value of <c>quant_method</c>.</summary>
    public const string QuantMethod = "quantsharp";

    /// <summary>Creates a config for <paramref name="spec"/> covering <paramref name="modules"/> (tensor-name prefixes, without <c>.weight</c>).
    /// For a mixed-precision checkpoint, <paramref name="moduleSpecs"/> gives each module's scheme and <paramref name="spec"/> is the most common one.</summary>
    public QuantizationConfig(QuantSpec spec, IReadOnlyList<string> modules, IReadOnlyDictionary<string, QuantSpec>? moduleSpecs = null)
    {
        Spec = spec;
        Modules = modules;
        ModuleSpecs = moduleSpecs;
    }

    /// <summary>Per-module schemes of a mixed-precision checkpoint (<c>"module_schemes"</c>), or null when every module uses <see cref="Spec"/>.</summary>
    public IReadOnlyDictionary<string, QuantSpec>? ModuleSpecs { get; }

    /// <summary>The scheme of one module.</summary>
    public QuantSpec SpecOf(string module) => ModuleSpecs is not null && ModuleSpecs.TryGetValue(module, out QuantSpec? s) ? s : Spec;

    /// <summary>The scheme of the quantized modules.</summary>
    public QuantSpec Spec { get; }

    /// <summary>Prefixes of the quantized linear weights (e.g. <c>model.layers.0.mlp.up_proj</c>); every other tensor is stored as it was.</summary>
    public IReadOnlyList<string> Modules { get; }

    /// <summary>Writes the block's object (the value of <c>"quantization_config"</c>).</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        QuantSpec s = Spec;
        writer.WriteStartObject();
        writer.WriteString("quant_method", QuantMethod);
        writer.WriteNumber("format_version", 1);
        writer.WriteString("scheme", s.SchemeName);
        writer.WriteString("name", s.Name);
        writer.WriteNumber("bits", s.Bits);
        if (s.GroupSize > 0)
        {
            writer.WriteNumber("group_size", s.GroupSize);
        }
        else
        {
            writer.WriteNull("group_size");
        }

        writer.WriteBoolean("sym", s.Symmetric);
        writer.WriteBoolean("double_quant", s.DoubleQuant);
        if (s.Format.Family == SchemeFamily.Ternary)
        {
            writer.WriteString("ternary_granularity", s.Granularity switch
            {
                TernaryGranularity.PerTensor => "tensor",
                TernaryGranularity.PerRow => "row",
                _ => "group",
            });
        }
        else
        {
            writer.WriteNull("ternary_granularity");
        }

        writer.WriteStartArray("modules");
        foreach (string m in Modules)
        {
            writer.WriteStringValue(m);
        }

        writer.WriteEndArray();
        if (ModuleSpecs is not null)
        {
            writer.WriteStartObject("module_schemes");
            foreach (string m in Modules)
            {
                writer.WriteString(m, SpecOf(m).Name);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }

    /// <summary>The block as indented JSON text.</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            WriteTo(writer);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Reads the block from a <c>quantization_config</c> element.</summary>
    /// <exception cref="QuantSharpException">Not a QuantSharp block, or a field is missing or inconsistent.</exception>
    public static QuantizationConfig Read(JsonElement block)
    {
        if (block.ValueKind != JsonValueKind.Object)
        {
            throw new QuantSharpException("quantization_config is not a JSON object");
        }

        string method = String(block, "quant_method");
        if (method != QuantMethod)
        {
            throw new QuantSharpException($"quantization_config.quant_method is '{method}'; this reader handles '{QuantMethod}' only");
        }

        string scheme = String(block, "scheme");
        int? group = block.TryGetProperty("group_size", out JsonElement g) && g.ValueKind == JsonValueKind.Number ? g.GetInt32() : null;
        bool sym = Bool(block, "sym");
        bool dq = Bool(block, "double_quant");
        TernaryGranularity? granularity = null;
        if (block.TryGetProperty("ternary_granularity", out JsonElement t) && t.ValueKind == JsonValueKind.String)
        {
            granularity = t.GetString() switch
            {
                "tensor" => TernaryGranularity.PerTensor,
                "row" => TernaryGranularity.PerRow,
                "group" => TernaryGranularity.PerGroup,
                var other => throw new QuantSharpException($"quantization_config.ternary_granularity '{other}' is not tensor, row or group"),
            };
        }

        SchemeFormat format = QuantSpec.ParseName(scheme).Format;
        QuantSpec spec = QuantSpec.FromParts(format.Kind, group ?? format.DefaultGroupSize, sym, dq, granularity ?? TernaryGranularity.PerRow);
        if (block.TryGetProperty("bits", out JsonElement bits) && bits.ValueKind == JsonValueKind.Number && bits.GetInt32() != spec.Bits)
        {
            throw new QuantSharpException($"quantization_config.bits is {bits.GetInt32()} but scheme {spec.Name} stores {spec.Bits}-bit codes");
        }

        if (!block.TryGetProperty("modules", out JsonElement modules) || modules.ValueKind != JsonValueKind.Array)
        {
            throw new QuantSharpException("quantization_config has no 'modules' array");
        }

        var list = new List<string>();
        foreach (JsonElement m in modules.EnumerateArray())
        {
            list.Add(m.ValueKind == JsonValueKind.String ? m.GetString()! : throw new QuantSharpException("quantization_config.modules holds a non-string entry"));
        }

        Dictionary<string, QuantSpec>? moduleSpecs = null;
        if (block.TryGetProperty("module_schemes", out JsonElement perModule) && perModule.ValueKind == JsonValueKind.Object)
        {
            moduleSpecs = new Dictionary<string, QuantSpec>(StringComparer.Ordinal);
            foreach (JsonProperty m in perModule.EnumerateObject())
            {
                moduleSpecs[m.Name] = m.Value.ValueKind == JsonValueKind.String
                    ? QuantSpec.ParseName(m.Value.GetString()!)
                    : throw new QuantSharpException($"quantization_config.module_schemes['{m.Name}'] is not a scheme name");
            }
        }

        return new QuantizationConfig(spec, list, moduleSpecs);
    }

    /// <summary>Reads the <c>quantization_config</c> of a whole <c>config.json</c> text; null when the config has none (an unquantized model).</summary>
    /// <exception cref="QuantSharpException">The JSON is malformed or the block is invalid.</exception>
    public static QuantizationConfig? FromConfigJson(string configJson)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(configJson);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("quantization_config", out JsonElement block)
                ? Read(block)
                : null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a value of the wrong JSON type, or a string that is not valid UTF-8.
            throw new QuantSharpException($"config.json is not valid JSON ({e.Message})", e);
        }
    }

    private static string String(JsonElement block, string name)
        => block.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.String
            ? e.GetString()!
            : throw new QuantSharpException($"quantization_config has no string field '{name}'");

    private static bool Bool(JsonElement block, string name)
        => block.TryGetProperty(name, out JsonElement e) && e.ValueKind is JsonValueKind.True;
}
