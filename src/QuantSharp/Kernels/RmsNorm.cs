using System.Numerics.Tensors;

namespace QuantSharp.Kernels;

/// <summary>RMSNorm: effectively <c>y[i] = x[i] / sqrt(mean(x²) + eps) · w[i]</c>.</summary>
internal static class RmsNorm
{
    /// <summary>Normalizes one row.</summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> destination)
    {
        float meanSquare = TensorPrimitives.SumOfSquares(x) / x.Length;
        float inv = 1f / MathF.Sqrt(meanSquare + eps);
        TensorPrimitives.Multiply(x, inv, destination);
        TensorPrimitives.Multiply(destination[..x.Length], weight, destination);
    }

    /// <summary>Normalizes <paramref name="rows"/> rows of length <c>weight.Length</c>.</summary>
    public static void ApplyRows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> destination, int rows)
    {
        int d = weight.Length;
        for (int t = 0; t < rows; t++)
        {
            Apply(x.Slice(t * d, d), weight, eps, destination.Slice(t * d, d));
        }
    }
}
