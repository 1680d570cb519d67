using System.Numerics.Tensors;

namespace QuantSharp.Kernels;

/// <summary>LayerNorm: <c>y[i] = (x[i] − mean(x)) / sqrt(var(x) + eps) · w[i] + b[i]</c> (biased variance, as PyTorch).</summary>
internal static class LayerNorm
{
    /// <summary>Normalizes one row; <paramref name="destination"/> may be <paramref name="x"/> itself.</summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> destination)
    {
        int d = weight.Length;
        float mean = TensorPrimitives.Sum(x[..d]) / d;
        Span<float> y = destination[..d];
        TensorPrimitives.Subtract(x[..d], mean, y);
        float variance = TensorPrimitives.SumOfSquares(y) / d;
        TensorPrimitives.Multiply(y, 1f / MathF.Sqrt(variance + eps), y);
        TensorPrimitives.FusedMultiplyAdd(y, weight, bias, y);
    }

    /// <summary>Normalizes <paramref name="rows"/> rows of length <c>weight.Length</c>; <paramref name="destination"/> may
    /// be <paramref name="x"/> itself.</summary>
    public static void ApplyRows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> destination, int rows)
    {
        int d = weight.Length;
        for (int t = 0; t < rows; t++)
        {
            Apply(x.Slice(t * d, d), weight, bias, eps, destination.Slice(t * d, d));
        }
    }
}
