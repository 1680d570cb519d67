using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>Tensor checks shared by the Hugging Face GPTQ/AWQ readers.</summary>
internal static class HfLayoutChecks
{
    public static TensorView Require(IReadOnlyDictionary<string, TensorView> tensors, string name, DType dtype, int rank)
    {
        if (!tensors.TryGetValue(name, out TensorView? view))
        {
            throw new QuantSharpException($"tensor '{name}' is missing");
        }

        if (view.DType != dtype || view.Shape.Length != rank || view.Shape.Any(d => d <= 0))
        {
            throw new QuantSharpException($"tensor '{name}' is {view.DType} {view.ShapeText}; expected a non-empty {rank}-D {dtype} tensor");
        }

        long bytes = DTypeInfo.SizeOf(dtype);
        foreach (long d in view.Shape)
        {
            bytes *= d;
        }

        if (view.ByteLength != bytes)
        {
            throw new QuantSharpException($"tensor '{name}': {view.ByteLength} bytes for shape {view.ShapeText}, expected {bytes} (truncated?)");
        }

        return view;
    }

    public static void Shape(TensorView view, params long[] shape)
    {
        if (!view.Shape.AsSpan().SequenceEqual(shape))
        {
            throw new QuantSharpException($"tensor '{view.Name}' is {view.ShapeText}, expected [{string.Join(", ", shape)}]");
        }
    }
}
