using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Quantization;

namespace QuantSharp.Models;

/// <summary>
/// Load-time quantization: converts each selected weight when the model asks for it, one tensor at a time from the
/// memory map, and then drops the source tensor's resident pages, so peak memory stays near the converted model plus
/// one unconverted tensor. Unselected weights stay dense views over the map.
/// </summary>
public sealed class QuantizingLinearProvider : ILinearProvider
{
    private readonly IWeightSource _source;
    private readonly TensorSelector _selector;
    private readonly WeightFormat _format;

    /// <summary>Creates the provider.</summary>
    public QuantizingLinearProvider(IWeightSource source, TensorSelector selector, WeightFormat format)
    {
        _source = source ?? throw new ArgumentNullException(nameof(source));
        _selector = selector ?? throw new ArgumentNullException(nameof(selector));
        _format = format ?? throw new ArgumentNullException(nameof(format));
    }

    /// <summary>Load options that quantize an F32/F16/BF16 checkpoint to <paramref name="format"/> while loading
    /// (default selection: the architecture's block linear weights; patterns as in <see cref="TensorSelector"/>).</summary>
    public static LoadOptions Options(WeightFormat format, IEnumerable<string>? include = null, IEnumerable<string>? exclude = null)
    {
        ArgumentNullException.ThrowIfNull(format);
        string[]? inc = include?.ToArray();
        string[]? exc = exclude?.ToArray();
        return new LoadOptions
        {
            LinearProvider = (config, source) =>
            {
                if (config.QuantizationConfigJson is not null)
                {
                    throw new QuantSharpException($"{source.Location}: the checkpoint is already quantized; --quantize needs an F32/F16/BF16 checkpoint");
                }

                var selector = TensorSelector.Create(inc, exc, ArchitectureSpec.For(config).BlockLinearNames(config.Layers));
                selector.Select(source.Tensors); // validates include patterns up front
                return new QuantizingLinearProvider(source, selector, format);
            },
        };
    }

    /// <inheritdoc />
    public ILinearWeight Get(string tensorName)
    {
        if (!_source.Tensors.TryGetValue(tensorName, out var view))
        {
            throw new QuantSharpException($"{_source.Location}: tensor '{tensorName}' is missing");
        }

        if (!_selector.IsSelected(tensorName, view))
        {
            return new DenseLinear(view);
        }

        ILinearWeight converted = _format.Convert(view);
        (_source as SafetensorsCheckpoint)?.ReleasePages(view);
        return converted;
    }

    /// <inheritdoc />
    public bool Has(string tensorName) => _source.Tensors.ContainsKey(tensorName);
}
