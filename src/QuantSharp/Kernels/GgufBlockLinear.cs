using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Common part of the GGUF <see cref="ILinearWeight"/>s (<see cref="GgufLinear"/>, <see cref="GgufDequantLinear"/>): a
/// 2-D tensor of one block type read in place, its shape, its rows as stored, and their dequantized values.
/// </summary>
public abstract unsafe class GgufBlockLinear : ILinearWeight
{
    /// <summary>Wraps raw blocks of <paramref name="type"/> with dimensions <paramref name="ne"/> (ne[0] = input
    /// features) at <paramref name="data"/>, which the caller keeps alive.</summary>
    /// <exception cref="GgufException">The subclass cannot run <paramref name="type"/> (<paramref name="typeProblem"/> says why), or the tensor is not 2-D.</exception>
    private protected GgufBlockLinear(string name, string location, GgmlType type, long[] ne, byte* data, bool typeSupported, string typeProblem)
    {
        if (!typeSupported)
        {
            throw new GgufException(GgufError.UnsupportedTensorType, location, name, typeProblem);
        }

        if (ne.Length < 2 || ne.Skip(2).Any(d => d != 1))
        {
            throw new GgufException(GgufError.BadShape, location, name, $"ne=[{string.Join(", ", ne)}] is not a 2-D weight");
        }

        Name = name;
        Type = type;
        Data = data;
        Cols = checked((int)ne[0]);
        Rows = checked((int)ne[1]);
        RowBytes = GgmlTypeInfo.RowBytes(type, Cols);
    }

    /// <inheritdoc />
    public int Rows { get; }

    /// <inheritdoc />
    public int Cols { get; }

    /// <summary>The GGUF block type.</summary>
    public GgmlType Type { get; }

    /// <inheritdoc />
    public string Scheme => "gguf-" + GgmlTypeInfo.Name(Type);

    /// <inheritdoc />
    public long BytesInMemory => RowBytes * Rows;

    /// <summary>The tensor's name (error messages).</summary>
    private protected string Name { get; }

    /// <summary>The first block of row 0.</summary>
    private protected byte* Data { get; }

    /// <summary>Bytes per row of blocks.</summary>
    private protected long RowBytes { get; }

    /// <summary>The packed blocks of row <paramref name="row"/>, as stored (export copies them unchanged).</summary>
    public ReadOnlySpan<byte> RowData(int row)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Rows, nameof(row));
        return new ReadOnlySpan<byte>(Data + (row * RowBytes), checked((int)RowBytes));
    }

    /// <inheritdoc />
    public void DequantizeRow(int row, Span<float> destination)
    {
        LinearDriver.CheckRow(Name, Rows, Cols, row, destination.Length);
        fixed (float* d = destination[..Cols])
        {
            GgufDequantize.Row(Type, Data + (row * RowBytes), d, Cols);
        }
    }

    /// <inheritdoc />
    public void MatVec(ReadOnlySpan<float> x, Span<float> y) => MatMul(x, 1, y);

    /// <inheritdoc />
    public void MatMul(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        LinearDriver.CheckSizes(Name, Rows, Cols, x.Length, tokens, y.Length);
        Multiply(x, tokens, y);
    }

    /// <summary>Computes <c>Y = X · Wᵀ</c> for validated sizes.</summary>
    private protected abstract void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y);

    /// <summary>Rows of raw blocks, dequantized by the lattice kernels or GgufDequantize.</summary>
    internal readonly struct BlockRows(byte* data, long rowBytes, GgmlType type, int cols) : IDequantizedRows
    {
        public void DequantizeRow(int row, float* destination)
        {
            if (LatticeKernels.Handles(type))
            {
                LatticeKernels.Dequantize(type, data + (row * rowBytes), destination, cols);
            }
            else
            {
                GgufDequantize.Row(type, data + (row * rowBytes), destination, cols);
            }
        }
    }
}
