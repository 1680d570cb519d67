using QuantSharp.Quantization;

namespace QuantSharp.Kernels;

/// <summary>Common part of the quantized <see cref="ILinearWeight"/>s: the packed tensors, shapes and size checks.
/// Subclasses read <see cref="Packed"/> in place; no call allocates.</summary>
public abstract class PackedLinear : ILinearWeight
{
    private protected PackedLinear(PackedWeight packed, QuantSchemeKind expected)
    {
        if (packed.Spec.Kind != expected && !(expected == QuantSchemeKind.Nf4 && packed.Spec.Kind == QuantSchemeKind.Fp4))
        {
            throw new ArgumentException($"{packed.Prefix}: a {packed.Spec.Name} weight cannot be read as {expected}");
        }

        Packed = packed;
        Rows = packed.Rows;
        Cols = packed.Cols;
    }

    /// <summary>The stored tensors this weight reads.</summary>
    public PackedWeight Packed { get; }

    /// <summary>The scheme and its parameters.</summary>
    public QuantSpec Spec => Packed.Spec;

    /// <inheritdoc />
    public int Rows { get; }

    /// <inheritdoc />
    public int Cols { get; }

    /// <inheritdoc />
    public string Scheme => Packed.Spec.Name;

    /// <inheritdoc />
    public long BytesInMemory => Packed.ByteLength;

    /// <inheritdoc />
    public void MatVec(ReadOnlySpan<float> x, Span<float> y) => MatMul(x, 1, y);

    /// <inheritdoc />
    public void MatMul(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        LinearDriver.CheckSizes(Packed.Prefix, Rows, Cols, x.Length, tokens, y.Length);

        Multiply(x, tokens, y);
    }

    /// <summary>Computes <c>Y = X · W'ᵀ</c> for validated sizes.</summary>
    private protected abstract void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y);

    /// <inheritdoc />
    public void DequantizeRow(int row, Span<float> destination)
    {
        LinearDriver.CheckRow(Packed.Prefix, Rows, Cols, row, destination.Length);

        Dequantize(row, destination[..Cols]);
    }

    /// <summary>Writes row <paramref name="row"/> (validated) into exactly Cols floats.</summary>
    private protected abstract void Dequantize(int row, Span<float> destination);

    /// <summary>A multi-token product for schemes (or CPUs) without an integer prefill kernel
    /// (<see cref="DenseGemm.MultiplyDequantized{TRows}"/>).</summary>
    private protected unsafe void MultiplyDequantized(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        fixed (float* px = x, py = y)
        {
            DenseGemm.MultiplyDequantized(new DequantizedRows(this), Rows, Cols, px, tokens, py);
        }
    }

    /// <summary><see cref="MultiplyDequantized"/> on activations rounded to int8 as the int8 decode kernels round them
    /// (<see cref="DenseGemm.MultiplyDequantizedRounded{TRows}"/>).</summary>
    private protected unsafe void MultiplyDequantizedRounded(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        fixed (float* px = x, py = y)
        {
            DenseGemm.MultiplyDequantizedRounded(new DequantizedRows(this), Rows, Cols, px, tokens, py);
        }
    }

    private readonly unsafe struct DequantizedRows(PackedLinear self) : IDequantizedRows
    {
        public void DequantizeRow(int row, float* destination) => self.Dequantize(row, new Span<float>(destination, self.Cols));
    }
}
