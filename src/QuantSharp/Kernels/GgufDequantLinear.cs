using System.Runtime.CompilerServices;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Any dequantizable GGUF weight (Q4_1, Q5_0, Q5_1, Q5_K, TQ1_0, the IQ types, …): each output row is dequantized into
/// per-thread scratch and dotted with the float activations (the lattice types IQ2_XS/IQ2_S/IQ3_XXS/IQ3_S decode
/// with <see cref="LatticeKernels"/>, one token dotting the groups directly). Slower than <see cref="GgufLinear"/>'s integer kernels but exact in
/// the weights (only float rounding in the dot).
/// </summary>
[SkipLocalsInit]
public sealed unsafe class GgufDequantLinear : ILinearWeight
{
    private readonly byte* _data;
    private readonly long _rowBytes;
    private readonly GgmlType _type;
    private readonly string _name;

    /// <summary>Wraps a 2-D tensor of a dequantizable type.</summary>
    /// <exception cref="GgufException">Not 2-D or not dequantizable.</exception>
    public GgufDequantLinear(GgufTensorInfo tensor)
        : this(tensor.Name, tensor.File.Location, tensor.Type, tensor.Dimensions, tensor.Pointer)
    {
    }

    /// <summary>Wraps raw blocks of <paramref name="type"/> with dimensions <paramref name="ne"/> at <paramref name="data"/>,
    /// which the caller keeps alive.</summary>
    internal GgufDequantLinear(string name, string location, GgmlType type, long[] ne, byte* data)
    {
        if (!GgmlTypeInfo.CanDequantize(type))
        {
            throw new GgufException(GgufError.UnsupportedTensorType, location, name, $"tensor type {type} cannot be dequantized by QuantSharp");
        }

        if (ne.Length < 2 || ne.Skip(2).Any(d => d != 1))
        {
            throw new GgufException(GgufError.BadShape, location, name, $"ne=[{string.Join(", ", ne)}] is not a 2-D weight");
        }

        _name = name;
        _type = type;
        _data = data;
        Cols = checked((int)ne[0]);
        Rows = checked((int)ne[1]);
        _rowBytes = GgmlTypeInfo.RowBytes(type, Cols);
    }

    /// <inheritdoc />
    public int Rows { get; }

    /// <inheritdoc />
    public int Cols { get; }

    /// <inheritdoc />
    public string Scheme => "gguf-" + GgmlTypeInfo.Name(_type);

    /// <summary>The GGUF block type.</summary>
    public GgmlType Type => _type;

    /// <summary>The packed blocks of row <paramref name="row"/>, as stored (export copies them unchanged).</summary>
    public ReadOnlySpan<byte> RowData(int row)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Rows, nameof(row));
        return new ReadOnlySpan<byte>(_data + row * _rowBytes, checked((int)_rowBytes));
    }

    /// <inheritdoc />
    public long BytesInMemory => _rowBytes * Rows;

    /// <inheritdoc />
    public void DequantizeRow(int row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Rows, nameof(row));
        fixed (float* d = destination[..Cols])
        {
            GgufDequantize.Row(_type, _data + row * _rowBytes, d, Cols);
        }
    }

    private struct Job
    {
        public byte* W;
        public long RowBytes;
        public GgmlType Type;
        public int Rows;
        public int Cols;
        public float* X;
        public float* Y;
        public int Tokens;
    }

    /// <inheritdoc />
    public void MatVec(ReadOnlySpan<float> x, Span<float> y) => MatMul(x, 1, y);

    /// <inheritdoc />
    public void MatMul(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        if (tokens < 1 || x.Length < (long)tokens * Cols || y.Length < (long)tokens * Rows)
        {
            throw new ArgumentException($"{_name}: expected x of {tokens}×{Cols} and y of {tokens}×{Rows}, got {x.Length} and {y.Length}");
        }

        fixed (float* px = x, py = y)
        {
            var job = new Job { W = _data, RowBytes = _rowBytes, Type = _type, Rows = Rows, Cols = Cols, X = px, Y = py, Tokens = tokens };
            WorkerPool.Shared.For(Rows, &Slice, &job, grain: 4, minPerThread: Math.Max(4, 32768 / Math.Max(1, Cols)));
        }
    }

    private static void Slice(void* context, int start, int end)
    {
        ref Job job = ref Unsafe.AsRef<Job>(context);
        float* row = ThreadScratch.Floats(job.Cols);
        if (job.Tokens == 1 && LatticeKernels.Handles(job.Type))
        {
            for (int r = start; r < end; r++)
            {
                job.Y[r] = LatticeKernels.Dot(job.Type, job.W + (r * job.RowBytes), job.X, job.Cols);
            }

            return;
        }

        bool lattice = LatticeKernels.Handles(job.Type);
        for (int r = start; r < end; r++)
        {
            if (lattice)
            {
                LatticeKernels.Dequantize(job.Type, job.W + (r * job.RowBytes), row, job.Cols);
            }
            else
            {
                GgufDequantize.Row(job.Type, job.W + r * job.RowBytes, row, job.Cols);
            }

            for (int t = 0; t < job.Tokens; t++)
            {
                job.Y[(long)t * job.Rows + r] = DenseKernels.Dot(row, job.X + (long)t * job.Cols, job.Cols);
            }
        }
    }
}
