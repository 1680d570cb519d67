using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// A weight in the AutoAWQ GEMM layout (<c>quant_method: awq</c>, <c>version: gemm</c>, 4 bits), read in place.
/// </summary>
/// <remarks>
/// For <c>in</c> inputs and <c>out</c> outputs, groups of <c>G</c> inputs:
/// <list type="bullet">
/// <item><c>qweight</c> I32 <c>[in, out / 8]</c>, packed along the output dimension: nibble <c>i</c> (bits 4i..4i+3)
/// of <c>qweight[k, w]</c> holds output <c>8w + order[i]</c> with <c>order = [0, 2, 4, 6, 1, 3, 5, 7]</c>.</item>
/// <item><c>qzeros</c> I32 <c>[in / G, out / 8]</c>, same interleave, zero stored as is (no −1 offset).</item>
/// <item><c>scales</c> F16 <c>[in / G, out]</c>.</item>
/// </list>
/// <c>W[j, k] = scales[k / G, j] · (code(k, j) − zero(k / G, j))</c>.
/// </remarks>
internal sealed unsafe class HfAwqLinear : ILinearWeight
{
    /// <summary>AutoAWQ's pack order: nibble i of a word holds output <c>8w + Order[i]</c>.</summary>
    public static ReadOnlySpan<int> Order => [0, 2, 4, 6, 1, 3, 5, 7];

    /// <summary>Inverse of <see cref="Order"/>: output <c>8w + p</c> is nibble <c>Nibble[p]</c> (AutoAWQ's AWQ_REVERSE_ORDER).</summary>
    public static ReadOnlySpan<int> Nibble => [0, 4, 1, 5, 2, 6, 3, 7];

    private readonly int* _qweight;
    private readonly int* _qzeros;
    private readonly Half* _scales;
    private readonly int _groupSize, _words;

    /// <summary>Wraps <c>prefix.qweight</c>, <c>.qzeros</c>, <c>.scales</c>.</summary>
    /// <exception cref="QuantSharpException">A tensor is missing or of the wrong dtype/shape.</exception>
    public HfAwqLinear(string prefix, IReadOnlyDictionary<string, TensorView> tensors, int groupSize)
    {
        TensorView qweight = HfLayoutChecks.Require(tensors, prefix + ".qweight", DType.I32, 2);
        Cols = checked((int)qweight.Shape[0]);
        _words = checked((int)qweight.Shape[1]);
        Rows = _words * 8;
        if (groupSize <= 0 || Cols % groupSize != 0)
        {
            throw new QuantSharpException($"'{prefix}': AWQ group size {groupSize} does not divide the {Cols} inputs");
        }

        _groupSize = groupSize;
        TensorView qzeros = HfLayoutChecks.Require(tensors, prefix + ".qzeros", DType.I32, 2);
        HfLayoutChecks.Shape(qzeros, Cols / groupSize, _words);
        TensorView scales = HfLayoutChecks.Require(tensors, prefix + ".scales", DType.F16, 2);
        HfLayoutChecks.Shape(scales, Cols / groupSize, Rows);
        _qweight = (int*)qweight.Pointer;
        _qzeros = (int*)qzeros.Pointer;
        _scales = (Half*)scales.Pointer;
        BytesInMemory = qweight.ByteLength + qzeros.ByteLength + scales.ByteLength;
    }

    /// <inheritdoc />
    public int Rows { get; }

    /// <inheritdoc />
    public int Cols { get; }

    /// <inheritdoc />
    public string Scheme => $"awq-int4-g{_groupSize}";

    /// <inheritdoc />
    public long BytesInMemory { get; }

    /// <inheritdoc />
    public void MatVec(ReadOnlySpan<float> x, Span<float> y) => RowDequantKernel.MatMul(this, x, 1, y);

    /// <inheritdoc />
    public void MatMul(ReadOnlySpan<float> x, int tokens, Span<float> y) => RowDequantKernel.MatMul(this, x, tokens, y);

    /// <inheritdoc />
    public void DequantizeRow(int row, Span<float> destination)
    {
        LinearDriver.CheckRow(Scheme, Rows, Cols, row, destination.Length);
        int word = row / 8, shift = 4 * Nibble[row % 8];
        for (int k = 0; k < Cols; k++)
        {
            int g = k / _groupSize;
            int code = (_qweight[((long)k * _words) + word] >>> shift) & 15;
            int zero = (_qzeros[((long)g * _words) + word] >>> shift) & 15;
            destination[k] = (float)_scales[((long)g * Rows) + row] * (code - zero);
        }
    }
}
