using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Any dequantizable GGUF weight (Q4_1, Q5_0, Q5_1, Q5_K, TQ1_0, the IQ types, …): each output row is dequantized into
/// per-thread scratch and dotted with the float activations (the lattice types IQ2_XS/IQ2_S/IQ3_XXS/IQ3_S go through
/// <see cref="LatticeProduct"/>). Slower than <see cref="GgufLinear"/>'s integer kernels but exact in
/// the weights (only float rounding in the dot).
/// </summary>
[SkipLocalsInit]
public sealed unsafe class GgufDequantLinear : GgufBlockLinear
{
    /// <summary>Wraps a 2-D tensor of a dequantizable type.</summary>
    /// <exception cref="GgufException">Not 2-D or not dequantizable.</exception>
    public GgufDequantLinear(GgufTensorInfo tensor)
        : this(tensor.Name, tensor.File.Location, tensor.Type, tensor.Dimensions, tensor.Pointer)
    {
    }

    /// <summary>Wraps raw blocks of <paramref name="type"/> with dimensions <paramref name="ne"/> at <paramref name="data"/>,
    /// which the caller keeps alive.</summary>
    internal GgufDequantLinear(string name, string location, GgmlType type, long[] ne, byte* data)
        : base(name, location, type, ne, data, GgmlTypeInfo.CanDequantize(type), $"tensor type {type} cannot be dequantized by QuantSharp")
    {
    }

    private struct Job
    {
        public byte* W;
        public long RowBytes;
        public GgmlType Type;
        public int Cols;
        public float* X;
        public float* Y;
    }

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        fixed (float* px = x, py = y)
        {
            if (LatticeProduct.Handles(Type))
            {
                LatticeProduct.Multiply(Type, Data, RowBytes, Rows, Cols, px, tokens, py);
                return;
            }

            if (tokens > 1)
            {
                DenseGemm.MultiplyDequantized(new BlockRows(Data, RowBytes, Type, Cols), Rows, Cols, px, tokens, py);
                return;
            }

            var job = new Job { W = Data, RowBytes = RowBytes, Type = Type, Cols = Cols, X = px, Y = py };
            LinearDriver.Run(ref job, &Slice, Rows, Cols, 1, grain: 4);
        }
    }

    /// <summary>One token: each row dequantized, then dotted with the activations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Slice(ref Job job, int start, int end)
    {
        float* row = ThreadScratch.Floats(job.Cols);
        var rows = new BlockRows(job.W, job.RowBytes, job.Type, job.Cols);
        for (int r = start; r < end; r++)
        {
            rows.DequantizeRow(r, row);
            job.Y[r] = DenseKernels.Dot(row, job.X, job.Cols);
        }
    }
}
