using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// The tensors a quantized linear layer reads, by suffix (<c>qweight</c>, <c>scales</c>, …), with the scheme and the
/// logical shape. The views point either into a memory-mapped checkpoint or at pinned arrays of a freshly quantized
/// <see cref="QuantizedTensor"/> (kept alive by <see cref="Owner"/>); kernels read them in place.
/// </summary>
public sealed class PackedWeight
{
    /// <summary>Creates the set; <paramref name="prefix"/> is the weight name without <c>.weight</c>.</summary>
    public PackedWeight(string prefix, QuantSpec spec, int rows, int cols, IReadOnlyDictionary<string, TensorView> parts, object? owner = null)
    {
        if (rows <= 0 || cols <= 0)
        {
            throw new QuantSharpException($"quantized weight '{prefix}': shape {rows}×{cols} is not a matrix");
        }

        Prefix = prefix;
        Spec = spec;
        Rows = rows;
        Cols = cols;
        Parts = parts;
        Owner = owner;
    }

    /// <summary>Tensor-name prefix, e.g. <c>model.layers.0.mlp.up_proj</c>.</summary>
    public string Prefix { get; }

    /// <summary>The scheme and its parameters.</summary>
    public QuantSpec Spec { get; }

    /// <summary>Output features.</summary>
    public int Rows { get; }

    /// <summary>Input features.</summary>
    public int Cols { get; }

    /// <summary>The stored tensors by suffix.</summary>
    public IReadOnlyDictionary<string, TensorView> Parts { get; }

    /// <summary>Whatever owns the memory the views point at when it is not a mapped file.</summary>
    public object? Owner { get; }

    /// <summary>Total bytes of all parts.</summary>
    public long ByteLength => Parts.Values.Sum(v => v.ByteLength);

    /// <summary>The part <paramref name="suffix"/>, checked to have exactly this dtype and shape.</summary>
    /// <exception cref="QuantSharpException">Missing, or of another dtype, shape or byte length (e.g. truncated).</exception>
    public TensorView Require(string suffix, DType dtype, params long[] shape)
    {
        string name = $"{Prefix}.{suffix}";
        if (!Parts.TryGetValue(suffix, out TensorView? view))
        {
            throw new QuantSharpException($"tensor '{name}' is missing; a {Spec.Name} weight of {Rows}×{Cols} needs it");
        }

        long expectedBytes = DTypeInfo.SizeOf(dtype);
        foreach (long d in shape)
        {
            expectedBytes *= d;
        }

        if (view.DType != dtype || !view.Shape.AsSpan().SequenceEqual(shape) || view.ByteLength != expectedBytes)
        {
            throw new QuantSharpException(
                $"tensor '{name}': a {Spec.Name} weight of {Rows}×{Cols} needs {dtype} [{string.Join(", ", shape)}] ({expectedBytes} bytes), " +
                $"found {view.DType} {view.ShapeText} ({view.ByteLength} bytes); the file is truncated or was written with other parameters");
        }

        return view;
    }
}
