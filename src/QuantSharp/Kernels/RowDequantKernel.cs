using System.Numerics.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// The generic multiply for weights stored in layouts without a dedicated kernel (Hugging Face GPTQ/AWQ): each
/// output row is dequantized once per call into per-thread scratch and dotted with every token.
/// </summary>
[SkipLocalsInit]
internal static unsafe class RowDequantKernel
{
    private struct Job
    {
        public ILinearWeight W;
        public float* X;
        public float* Y;
        public int Tokens;
    }

    /// <summary>Effectively computes <c>Y = X · Wᵀ</c> using <paramref name="w"/>'s <see cref="ILinearWeight.DequantizeRow"/>.</summary>
    public static void MatMul(ILinearWeight w, ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        LinearDriver.CheckSizes(w.Scheme, w.Rows, w.Cols, x.Length, tokens, y.Length);

        fixed (float* px = x, py = y)
        {
            var job = new Job { W = w, X = px, Y = py, Tokens = tokens };
            LinearDriver.Run(ref job, &Slice, w.Rows, w.Cols, tokens, grain: 4);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Slice(ref Job job, int start, int end)
    {
        int cols = job.W.Cols, rows = job.W.Rows;
        var row = new Span<float>(ThreadScratch.Floats(cols), cols);
        for (int r = start; r < end; r++)
        {
            job.W.DequantizeRow(r, row);
            for (int t = 0; t < job.Tokens; t++)
            {
                job.Y[((long)t * rows) + r] = TensorPrimitives.Dot(row, new ReadOnlySpan<float>(job.X + ((long)t * cols), cols));
            }
        }
    }
}
