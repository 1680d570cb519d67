using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>
/// Loads checkpoints quantized by Hugging Face tools: <c>quantization_config.quant_method</c> <c>gptq</c>
/// (AutoGPTQ v1 layout, <see cref="HfGptqLinear"/>) or <c>awq</c> with <c>version: gemm</c> (<see cref="HfAwqLinear"/>).
/// Linear weights without a <c>qweight</c> (e.g. lm_head) are read dense. Registered in <see cref="ModelLoader"/>'s quantized-checkpoint providers.
/// </summary>
public sealed class HfQuantizedProvider : ILinearProvider
{
    private readonly IWeightSource _source;
    private readonly Func<string, ILinearWeight> _create;

    private HfQuantizedProvider(IWeightSource source, Func<string, ILinearWeight> create)
    {
        _source = source;
        _create = create;
    }

    /// <summary>The provider for a GPTQ/AWQ config, or null when the config names another method.</summary>
    /// <exception cref="QuantSharpException">A GPTQ/AWQ config with unsupported parameters (the message names them).</exception>
    public static ILinearProvider? TryCreate(ModelConfig config, IWeightSource source)
    {
        if (config.QuantizationConfigJson is null)
        {
            return null;
        }

        using JsonDocument doc = JsonDocument.Parse(config.QuantizationConfigJson);
        JsonElement q = doc.RootElement;
        string? method = q.TryGetProperty("quant_method", out JsonElement m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        int bits = q.TryGetProperty("bits", out JsonElement b) && b.ValueKind == JsonValueKind.Number ? b.GetInt32() : (q.TryGetProperty("w_bit", out JsonElement wb) ? wb.GetInt32() : 4);
        int group = q.TryGetProperty("group_size", out JsonElement g) && g.ValueKind == JsonValueKind.Number ? g.GetInt32()
            : (q.TryGetProperty("q_group_size", out JsonElement qg) ? qg.GetInt32() : 128);
        switch (method)
        {
            case "gptq":
                if (q.TryGetProperty("checkpoint_format", out JsonElement f) && f.GetString() is string fmt && fmt != "gptq")
                {
                    throw new QuantSharpException($"{source.Location}: GPTQ checkpoint_format '{fmt}' is not supported (only 'gptq', the v1 layout)");
                }

                return new HfQuantizedProvider(source, prefix => new HfGptqLinear(prefix, source.Tensors, bits));
            case "awq":
                string version = q.TryGetProperty("version", out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString()!.ToLowerInvariant() : "gemm";
                if (version != "gemm" || bits != 4 || (q.TryGetProperty("zero_point", out JsonElement zp) && zp.ValueKind == JsonValueKind.False))
                {
                    throw new QuantSharpException($"{source.Location}: AWQ version '{version}', {bits} bits, zero_point {(q.TryGetProperty("zero_point", out JsonElement z2) ? z2.GetRawText() : "true")} is not supported (only 4-bit GEMM with zero points)");
                }

                return new HfQuantizedProvider(source, prefix => new HfAwqLinear(prefix, source.Tensors, group));
            default:
                return null;
        }
    }

    /// <inheritdoc />
    public ILinearWeight Get(string tensorName)
    {
        string prefix = QuantizedLinear.Prefix(tensorName);
        if (_source.Tensors.ContainsKey(prefix + ".qweight"))
        {
            return _create(prefix);
        }

        return _source.Tensors.TryGetValue(tensorName, out var view)
            ? new DenseLinear(view)
            : throw new QuantSharpException($"{_source.Location}: tensor '{tensorName}' (or '{prefix}.qweight') is missing");
    }

    /// <inheritdoc />
    public bool Has(string tensorName) => _source.Tensors.ContainsKey(tensorName) || _source.Tensors.ContainsKey(QuantizedLinear.Prefix(tensorName) + ".qweight");
}
