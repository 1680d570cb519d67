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

    /// <summary>Checks one importance value per input column, each finite and ≥ 0.</summary>
    /// <exception cref="QuantSharpException">Wrong length or a bad value (names the tensor).</exception>
    internal static void CheckImportance(string name, ReadOnlySpan<float> importance, int cols)
    {
        if (importance.Length != cols)
        {
            throw new QuantSharpException($"tensor '{name}': the importance matrix has {importance.Length} values for {cols} input columns");
        }

        foreach (float a in importance)
        {
            if (!float.IsFinite(a) || a < 0)
            {
                throw new QuantSharpException($"tensor '{name}': importance value {a} is not a finite number ≥ 0");
            }
        }
    }
}
