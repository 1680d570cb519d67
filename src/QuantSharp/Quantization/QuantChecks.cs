using System.Numerics.Tensors;

namespace QuantSharp.Quantization;

/// <summary>Input validation shared by the schemes.</summary>
internal static class QuantChecks
{
    /// <summary>Checks the shape and that every weight is finite.</summary>
    /// <exception cref="QuantSharpException">Shape mismatch or a NaN/±Inf weight (names the tensor, row and column).</exception>
    internal static void CheckWeights(string name, ReadOnlySpan<float> weights, int rows, int cols)
    {
        if (rows <= 0 || cols <= 0 || (long)rows * cols != weights.Length)
        {
            throw new QuantSharpException($"tensor '{name}': cannot quantize {weights.Length} values as a {rows}×{cols} matrix");
        }

        // MaxMagnitude propagates NaN and returns Inf when there is one, so one vectorised pass decides.
        if (float.IsFinite(TensorPrimitives.MaxMagnitude(weights)))
        {
            return;
        }

        for (int i = 0; i < weights.Length; i++)
        {
            if (!float.IsFinite(weights[i]))
            {
                throw new QuantSharpException($"tensor '{name}': weight [{i / cols}, {i % cols}] is {weights[i]}; NaN/Inf weights cannot be quantized (the checkpoint is corrupt or overflowed)");
            }
        }
    }
}
