using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// A grouped int4/int3/int2 weight in the <see cref="IntGroupScheme"/> layout, optionally with a GPTQ act-order
/// <c>g_idx</c>. Generic kernel: rows are dequantized once per call, 64 at a time, into per-thread scratch and
/// multiplied with every token by the blocked F32 GEMM (<see cref="PackedLinear"/>'s dequantized path), so prefill
/// amortises the unpacking; <see cref="MultiplyReference"/> is its scalar twin.
/// </summary>
[SkipLocalsInit]
internal sealed unsafe class IntGroupLinear : PackedLinear
{
    /// <summary>Suffix of the optional act-order group index part.</summary>
    public const string GIdxSuffix = "g_idx";

    private readonly byte* _q;
    private readonly Half* _scales;
    private readonly byte* _zeros;
    private readonly int* _gIdx;
    private readonly int _groups;
    private readonly int _rowBytes;

    /// <summary>Wraps <c>qweight</c>, <c>scales</c>, <c>zeros</c> (asymmetric) and the optional <c>g_idx</c>.</summary>
    /// <exception cref="QuantSharpException">A tensor is missing, has the wrong dtype/shape/size, or a g_idx value is out of range.</exception>
    public IntGroupLinear(PackedWeight packed)
        : base(packed, packed.Spec.Kind)
    {
        if (!Spec.IsIntGroup)
        {
            throw new QuantSharpException($"'{packed.Prefix}': {Spec.Name} is not an int4/int3/int2 scheme");
        }

        _groups = Int4Scheme.Groups(Cols, Spec.GroupSize);
        _rowBytes = IntGroupScheme.RowBytes(Spec.Bits, Cols);
        _q = packed.Require("qweight", DType.U8, Rows, _rowBytes).Pointer;
        _scales = (Half*)packed.Require("scales", DType.F16, Rows, _groups).Pointer;
        _zeros = Spec.Symmetric ? null : packed.Require("zeros", DType.U8, Rows, _groups).Pointer;
        if (packed.Parts.ContainsKey(GIdxSuffix))
        {
            _gIdx = (int*)packed.Require(GIdxSuffix, DType.I32, Cols).Pointer;
            for (int c = 0; c < Cols; c++)
            {
                if ((uint)_gIdx[c] >= (uint)_groups)
                {
                    throw new QuantSharpException($"tensor '{packed.Prefix}.{GIdxSuffix}': value {_gIdx[c]} at column {c} is outside 0..{_groups - 1}");
                }
            }
        }
    }

    /// <summary>True when the weight carries an act-order <c>g_idx</c>.</summary>
    public bool HasGIdx => _gIdx != null;

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y) => MultiplyDequantized(x, tokens, y);

    /// <summary>Scalar reference of <see cref="ILinearWeight.MatMul"/>: dequantize, then a sequential double-accumulated dot.</summary>
    internal void MultiplyReference(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        float[] row = new float[Cols];
        for (int r = 0; r < Rows; r++)
        {
            Dequantize(r, row);
            for (int t = 0; t < tokens; t++)
            {
                double sum = 0;
                for (int c = 0; c < Cols; c++)
                {
                    sum += (double)row[c] * x[(t * Cols) + c];
                }

                y[(t * Rows) + r] = (float)sum;
            }
        }
    }

    private protected override void Dequantize(int row, Span<float> destination)
        => IntGroupScheme.DequantizeRow(
            Spec.Bits,
            new ReadOnlySpan<byte>(_q + ((long)row * _rowBytes), _rowBytes),
            new ReadOnlySpan<Half>(_scales + ((long)row * _groups), _groups),
            _zeros == null ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(_zeros + ((long)row * _groups), _groups),
            _gIdx == null ? ReadOnlySpan<int>.Empty : new ReadOnlySpan<int>(_gIdx, Cols),
            Spec.GroupSize,
            destination);
}
