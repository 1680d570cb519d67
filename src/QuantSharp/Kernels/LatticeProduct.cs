using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// The product of a lattice weight (rows of IQ2_XS / IQ2_S / IQ3_XXS / IQ3_S blocks, from a QuantSharp checkpoint or a
/// GGUF file) with one or more tokens. Up to <see cref="PackedTokens"/> tokens run <see cref="LatticeQ8Kernels"/> on
/// int8 activations, each row decoded for every token while it is in L1; longer prompts dequantize each row once for
/// the float GEMM, on the activations rounded to int8 the same way, so prefill and decode agree. Without AVX2, one
/// token dots each row's groups with the float activations (<see cref="LatticeKernels"/>) and more take the float GEMM.
/// </summary>
internal static unsafe class LatticeProduct
{
    /// <summary>Up to this many tokens take the int8 decode kernel (TinyLlama-shape IQ2_XS file, 2 threads, prefill tok/s
    /// through the int8 kernel / the float GEMM: 8 tokens 26.7 / 23.1, 16 tokens 29.9 / 46.0).</summary>
    internal const int PackedTokens = 8;

    /// <summary>True for the lattice types.</summary>
    internal static bool Handles(GgmlType type) => LatticeQ8Kernels.Handles(type);

    /// <summary>True when <paramref name="type"/> multiplies int8-rounded activations on this CPU (AVX2).</summary>
    internal static bool RoundsActivations(GgmlType type) => Handles(type) && KernelIsa.UseAvx2;

    /// <summary>Y = X · Wᵀ for <paramref name="rows"/> rows of <paramref name="rowBytes"/> bytes at <paramref name="data"/>.</summary>
    internal static void Multiply(GgmlType type, byte* data, long rowBytes, int rows, int cols, float* x, int tokens, float* y)
    {
        if (!KernelIsa.UseAvx2)
        {
            if (tokens > 1)
            {
                DenseGemm.MultiplyDequantized(new GgufBlockLinear.BlockRows(data, rowBytes, type, cols), rows, cols, x, tokens, y);
                return;
            }

            var floats = new FloatJob { W = data, RowBytes = rowBytes, Type = type, Cols = cols, X = x, Y = y };
            LinearDriver.Run(ref floats, &FloatSlice, rows, cols, 1, grain: 4);
            return;
        }

        if (tokens > PackedTokens)
        {
            DenseGemm.MultiplyDequantizedRounded(new GgufBlockLinear.BlockRows(data, rowBytes, type, cols), rows, cols, x, tokens, y);
            return;
        }

        var job = new Job { W = data, RowBytes = rowBytes, Type = type, Rows = rows, Cols = cols, X = ActivationQuantizer.Quantize(x, tokens, cols), Y = y, Tokens = tokens };
        LinearDriver.Run(ref job, &Slice, rows, cols, tokens, grain: 4);
    }

    private struct Job
    {
        public byte* W;
        public long RowBytes;
        public GgmlType Type;
        public int Rows;
        public int Cols;
        public ActivationQuantizer.Q8 X;
        public float* Y;
        public int Tokens;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Slice(ref Job job, int start, int end)
    {
        int chunks = job.X.Chunks;
        for (int r = start; r < end; r++)
        {
            byte* row = job.W + (r * job.RowBytes);
            for (int t = 0; t < job.Tokens; t++)
            {
                long tc = (long)t * chunks;
                job.Y[((long)t * job.Rows) + r] = LatticeQ8Kernels.Dot(job.Type, row, job.Cols, job.X.Q + (tc * 32), job.X.D + tc);
            }
        }
    }

    private struct FloatJob
    {
        public byte* W;
        public long RowBytes;
        public GgmlType Type;
        public int Cols;
        public float* X;
        public float* Y;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FloatSlice(ref FloatJob job, int start, int end)
    {
        for (int r = start; r < end; r++)
        {
            job.Y[r] = LatticeKernels.Dot(job.Type, job.W + (r * job.RowBytes), job.X, job.Cols);
        }
    }
}
