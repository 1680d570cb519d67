using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// A weight in the Hugging Face / AutoGPTQ layout (<c>quant_method: gptq</c>, checkpoint format v1), read in place.
/// </summary>
/// <remarks>
/// For a layer of <c>in</c> inputs and <c>out</c> outputs with <c>b</c> ∈ {2, 4, 8} bits, <c>p = 32 / b</c> codes per int32:
/// <list type="bullet">
/// <item><c>qweight</c> I32 <c>[in / p, out]</c>: code of (input k, output j) is <c>(qweight[k / p, j] >> (b · (k mod p))) &amp; (2^b − 1)</c> (packed along the input dimension).</item>
/// <item><c>qzeros</c> I32 <c>[groups, out / p]</c>: zero of (group g, output j) is <c>((qzeros[g, j / p] >> (b · (j mod p))) &amp; (2^b − 1)) + 1</c>
/// (packed along the output dimension; AutoGPTQ v1 stores zero − 1).</item>
/// <item><c>scales</c> F16 <c>[groups, out]</c>; <c>g_idx</c> I32 <c>[in]</c> (group of each input; act-order permutes it).</item>
/// </list>
/// <c>W[j, k] = scales[g, j] · (code(k, j) − zero(g, j))</c> with <c>g = g_idx[k]</c>.
/// </remarks>
internal sealed unsafe class HfGptqLinear : ILinearWeight
{
    private readonly int* _qweight;
    private readonly int* _qzeros;
    private readonly Half* _scales;
    private readonly int* _gIdx;
    private readonly int _bits, _perWord, _groups;

    /// <summary>Wraps the tensors <c>prefix.qweight</c>, <c>.qzeros</c>, <c>.scales</c>, <c>.g_idx</c>.</summary>
    /// <exception cref="QuantSharpException">A tensor is missing, of the wrong dtype/shape, or a g_idx value is out of range; unsupported bits.</exception>
    public HfGptqLinear(string prefix, IReadOnlyDictionary<string, TensorView> tensors, int bits)
    {
        if (bits is not (2 or 4 or 8))
        {
            throw new QuantSharpException($"'{prefix}': GPTQ bits {bits} is not supported (2, 4 or 8; 3-bit packing spans words)");
        }

        _bits = bits;
        _perWord = 32 / bits;
        TensorView qweight = HfLayoutChecks.Require(tensors, prefix + ".qweight", DType.I32, 2);
        TensorView scales = HfLayoutChecks.Require(tensors, prefix + ".scales", DType.F16, 2);
        Cols = checked((int)(qweight.Shape[0] * _perWord));
        Rows = checked((int)qweight.Shape[1]);
        _groups = checked((int)scales.Shape[0]);
        HfLayoutChecks.Shape(scales, _groups, Rows);
        TensorView qzeros = HfLayoutChecks.Require(tensors, prefix + ".qzeros", DType.I32, 2);
        HfLayoutChecks.Shape(qzeros, _groups, (Rows + _perWord - 1) / _perWord);
        TensorView gIdx = HfLayoutChecks.Require(tensors, prefix + ".g_idx", DType.I32, 1);
        HfLayoutChecks.Shape(gIdx, Cols);
        _qweight = (int*)qweight.Pointer;
        _qzeros = (int*)qzeros.Pointer;
        _scales = (Half*)scales.Pointer;
        _gIdx = (int*)gIdx.Pointer;
        for (int k = 0; k < Cols; k++)
        {
            if ((uint)_gIdx[k] >= (uint)_groups)
            {
                throw new QuantSharpException($"tensor '{prefix}.g_idx': value {_gIdx[k]} at input {k} is outside 0..{_groups - 1}");
            }
        }

        Scheme = $"gptq-int{bits}";
        BytesInMemory = qweight.ByteLength + qzeros.ByteLength + scales.ByteLength + gIdx.ByteLength;
    }

    /// <inheritdoc />
    public int Rows { get; }

    /// <inheritdoc />
    public int Cols { get; }

    /// <inheritdoc />
    public string Scheme { get; }

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
        int mask = (1 << _bits) - 1;
        int zeroWords = (Rows + _perWord - 1) / _perWord;
        int zeroShift = _bits * (row % _perWord);
        for (int k = 0; k < Cols; k++)
        {
            int g = _gIdx[k];
            int code = (_qweight[((long)(k / _perWord) * Rows) + row] >>> (_bits * (k % _perWord))) & mask;
            int zero = ((_qzeros[((long)g * zeroWords) + (row / _perWord)] >>> zeroShift) & mask) + 1;
            destination[k] = (float)_scales[((long)g * Rows) + row] * (code - zero);
        }
    }
}
