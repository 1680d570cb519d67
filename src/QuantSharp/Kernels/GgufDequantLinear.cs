using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Any dequantizable GGUF weight (Q4_1, Q5_0, Q5_1, Q5_K, TQ1_0, the IQ types, …): each output row is dequantized into
/// per-thread scratch and dotted with the float activations (the lattice types IQ2_XS/IQ2_S/IQ3_XXS/IQ3_S decode
/// with <see cref="LatticeKernels"/>, one token dotting the groups directly). Slower than <see cref="GgufLinear"/>'s integer kernels but exact in
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
        public int Rows;
        public int Cols;
        public float* X;
        public float* Y;
        public int Tokens;
    }

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        fixed (float* px = x, py = y)
        {
            var job = new Job { W = Data, RowBytes = RowBytes, Type = Type, Rows = Rows, Cols = Cols, X = px, Y = py, Tokens = tokens };
            LinearDriver.Run(ref job, &Slice, Rows, Cols, tokens, grain: 4);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Slice(ref Job job, int start, int end)
    {
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
