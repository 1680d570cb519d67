namespace QuantSharp.Quantization;

/// <summary>A weight quantization scheme: dense floats in, packed parts out (round-to-nearest, no calibration).</summary>
public interface IQuantScheme
{
    /// <summary>The scheme and its parameters.</summary>
    QuantSpec Spec { get; }

    /// <summary>Quantizes a row-major <paramref name="rows"/> × <paramref name="cols"/> matrix (PyTorch <c>[out, in]</c>).</summary>
    /// <exception cref="QuantSharpException">A weight is NaN or ±Inf (the message names <paramref name="name"/>, row and column), or the shape does not match.</exception>
    QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols);

    /// <summary>Writes row <paramref name="row"/> of <paramref name="packed"/> as floats (<c>destination.Length ≥ Cols</c>).</summary>
    void DequantizeRow(QuantizedTensor packed, int row, Span<float> destination);
}

/// <summary>Creates the <see cref="IQuantScheme"/> for a <see cref="QuantSpec"/>.</summary>
public static class QuantScheme
{
    /// <summary>The scheme object that implements <paramref name="spec"/>.</summary>
    public static IQuantScheme For(QuantSpec spec) => spec.Format.CreateScheme(spec);

    /// <summary>Quantizes with the scheme named by <paramref name="spec"/>.</summary>
    public static QuantizedTensor Quantize(QuantSpec spec, string name, ReadOnlySpan<float> weights, int rows, int cols)
        => For(spec).Quantize(name, weights, rows, cols);
}
