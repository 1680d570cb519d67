using QuantSharp.Formats.Gguf;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// A lattice codebook weight (iq2_xs, iq2_s, iq3_xxs, iq3_s): <c>qweight</c> holds each row's GGUF blocks, multiplied
/// by <see cref="LatticeProduct"/> as a GGUF file's lattice tensor is.
/// </summary>
internal sealed unsafe class LatticeLinear : PackedLinear
{
    private readonly byte* _q;
    private readonly int _rowBytes;
    private readonly GgmlType _type;

    /// <summary>Validates and wraps a packed lattice weight.</summary>
    /// <exception cref="QuantSharpException">A part is missing or of the wrong dtype or shape, or the row length is not a multiple of 256.</exception>
    public LatticeLinear(PackedWeight packed)
        : base(packed, packed.Spec.Kind)
    {
        LatticeFormat format = LatticeFormat.For(packed.Spec.Kind) ?? throw new ArgumentException($"{packed.Prefix}: {packed.Spec.Name} is not a lattice scheme");
        LatticeScheme.CheckShape(packed.Prefix, packed.Cols);
        _type = format.Type;
        _rowBytes = packed.Cols / LatticeFormat.BlockWeights * format.BlockBytes;
        _q = packed.Require("qweight", DType.U8, packed.Rows, _rowBytes).Pointer;
    }

    /// <summary>The GGUF block type of each row.</summary>
    public GgmlType BlockType => _type;

    /// <summary>Row <paramref name="row"/>'s blocks as stored (export copies them unchanged).</summary>
    public ReadOnlySpan<byte> RowData(int row)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Rows, nameof(row));
        return new ReadOnlySpan<byte>(_q + ((long)row * _rowBytes), _rowBytes);
    }

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        fixed (float* px = x, py = y)
        {
            LatticeProduct.Multiply(_type, _q, _rowBytes, Rows, Cols, px, tokens, py);
        }
    }

    private protected override void Dequantize(int row, Span<float> destination)
    {
        fixed (float* d = destination)
        {
            LatticeKernels.Dequantize(_type, _q + ((long)row * _rowBytes), d, Cols);
        }
    }
}
