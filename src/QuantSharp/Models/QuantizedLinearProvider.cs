using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Quantization;

namespace QuantSharp.Models;

/// <summary>
/// Loads a folder written in QuantSharp's quantized layout (docs/formats.md): the modules listed in
/// <c>quantization_config</c> come back as packed weights that read the memory-mapped bytes in place; every other
/// linear weight (embeddings, LM head) as a dense view. Registered first in <see cref="ModelLoader"/>'s quantized-checkpoint providers.
/// </summary>
public sealed class QuantizedLinearProvider : ILinearProvider
{
    private readonly IWeightSource _source;
    private readonly HashSet<string> _modules;

    private QuantizedLinearProvider(IWeightSource source, QuantizationConfig config)
    {
        _source = source;
        Config = config;
        _modules = new HashSet<string>(config.Modules, StringComparer.Ordinal);
    }

    /// <summary>The folder's <c>quantization_config</c>.</summary>
    public QuantizationConfig Config { get; }

    /// <summary>The provider for a config whose <c>quantization_config.quant_method</c> is <c>quantsharp</c>; null for other methods.</summary>
    /// <exception cref="QuantSharpException">The block is malformed, or it and the packed tensors disagree (a module without
    /// <c>qmeta</c>, a packed tensor not listed).</exception>
    public static ILinearProvider? TryCreate(ModelConfig config, IWeightSource source)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(source);
        if (config.QuantizationConfigJson is null)
        {
            return null;
        }

        QuantizationConfig quant;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(config.QuantizationConfigJson);
            if (!doc.RootElement.TryGetProperty("quant_method", out JsonElement m) || m.ValueKind != JsonValueKind.String || m.GetString() != QuantizationConfig.QuantMethod)
            {
                return null;
            }

            quant = QuantizationConfig.Read(doc.RootElement);
        }
        catch (QuantSharpException e)
        {
            throw new QuantSharpException($"{source.Location}/config.json: {e.Message}", e);
        }

        foreach (string module in quant.Modules)
        {
            if (!QuantizedLinear.IsQuantized(module, source.Tensors))
            {
                throw new QuantSharpException($"{source.Location}: quantization_config lists module '{module}' but tensor '{module}.{QuantizedLinear.MetaSuffix}' is missing");
            }
        }

        var listed = new HashSet<string>(quant.Modules, StringComparer.Ordinal);
        string suffix = "." + QuantizedLinear.MetaSuffix;
        foreach (string name in source.Tensors.Keys)
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && !listed.Contains(name[..^suffix.Length]))
            {
                throw new QuantSharpException($"{source.Location}: tensor '{name}' is a packed weight that quantization_config.modules does not list");
            }
        }

        return new QuantizedLinearProvider(source, quant);
    }

    /// <inheritdoc />
    public ILinearWeight Get(string tensorName)
    {
        string prefix = QuantizedLinear.Prefix(tensorName);
        if (!_modules.Contains(prefix))
        {
            return _source.Tensors.TryGetValue(tensorName, out var view)
                ? new DenseLinear(view)
                : throw new QuantSharpException($"{_source.Location}: tensor '{tensorName}' is missing");
        }

        PackedLinear w = QuantizedLinear.Load(tensorName, _source.Tensors);
        QuantSpec expected = Config.SpecOf(prefix);
        if (w.Spec != expected)
        {
            throw new QuantSharpException($"{_source.Location}: tensor '{prefix}.{QuantizedLinear.MetaSuffix}' says {w.Spec.Name} but quantization_config says {expected.Name}");
        }

        return w;
    }

    /// <inheritdoc />
    public bool Has(string tensorName)
        => _modules.Contains(QuantizedLinear.Prefix(tensorName)) || _source.Tensors.ContainsKey(tensorName);
}
