using QuantSharp.Formats;
using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>Hands out unquantized weights as <see cref="DenseLinear"/> views over the source's memory map.</summary>
public sealed class DenseLinearProvider(IWeightSource source) : ILinearProvider
{
    /// <inheritdoc />
    public ILinearWeight Get(string tensorName) => source.Tensors.TryGetValue(tensorName, out var view)
        ? new DenseLinear(view)
        : throw new QuantSharpException($"{source.Location}: tensor '{tensorName}' is missing");

    /// <inheritdoc />
    public bool Has(string tensorName) => source.Tensors.ContainsKey(tensorName);
}
