using System.Numerics.Tensors;

namespace QuantSharp.Kernels;

/// <summary>Softmax that cannot overflow.</summary>
internal static class Softmax
{
    /// <summary>Softmax in place after subtracting the maximum. <c>TensorPrimitives.SoftMax</c> exponentiates the raw
    /// values, which overflows to ∞/∞ = NaN once one passes ~88 (attention scores of degraded 2-bit weights on
    /// 400-token inputs; logits divided by a low sampling temperature).</summary>
    public static void InPlace(Span<float> values)
    {
        TensorPrimitives.Subtract(values, TensorPrimitives.Max(values), values);
        TensorPrimitives.SoftMax(values, values);
    }
}
