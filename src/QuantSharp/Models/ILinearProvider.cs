using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>
/// Turns a linear weight's tensor name into the <see cref="ILinearWeight"/> the model multiplies by: dense views over
/// the memory map, weights quantized while loading, or packed weights read from a quantized checkpoint.
/// </summary>
public interface ILinearProvider
{
    /// <summary>The weight for <paramref name="tensorName"/> (e.g. <c>model.layers.0.mlp.up_proj.weight</c>).</summary>
    ILinearWeight Get(string tensorName);

    /// <summary>True if the checkpoint has the weight (in any form).</summary>
    bool Has(string tensorName);
}
