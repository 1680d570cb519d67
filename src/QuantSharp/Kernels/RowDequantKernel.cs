using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

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

    /// <summary>Refuses a row outside the matrix or a destination (its length) shorter than a row.</summary>
    /// <exception cref="ArgumentException">Either is out of range.</exception>
    public static void CheckRow(ILinearWeight w, int row, int destination)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)w.Rows, nameof(row));
        if (destination < w.Cols)
        {
            throw new ArgumentException($"destination holds {destination} floats, a row has {w.Cols}", nameof(destination));
        }
    }

    /// <summary>Effectively computes <c>Y = X · Wᵀ</c> using <paramref name="w"/>'s <see cref="ILinearWeight.DequantizeRow"/>.</summary>
    public static void MatMul(ILinearWeight w, ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        if (tokens <= 0 || x.Length < (long)tokens * w.Cols || y.Length < (long)tokens * w.Rows)
        {
            throw new ArgumentException($"expected x of {tokens}×{w.Cols} and y of {tokens}×{w.Rows}, got {x.Length} and {y.Length}");
        }

        fixed (float* px = x, py = y)
        {
            var job = new Job { W = w, X = px, Y = py, Tokens = tokens };
            WorkerPool.Shared.For(w.Rows, &Slice, Unsafe.AsPointer(ref job), grain: 4, minPerThread: Math.Max(8, 65536 / Math.Max(1, w.Cols)));
        }
    }

    private static void Slice(void* context, int start, int end)
    {
        ref Job job = ref Unsafe.AsRef<Job>(context);
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
