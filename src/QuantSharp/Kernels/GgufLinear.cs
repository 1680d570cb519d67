using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// A GGUF weight multiplied directly on its blocks: activations are quantized to int8 once per call
/// (<see cref="GgufActivations"/>), then each output row is an integer dot product per 32 weights scaled per block
/// (<see cref="GgufKernels"/>). Supports the types with a direct kernel (<see cref="GgufKernels.HasDirectKernel"/>); <see cref="Create"/> picks this, a
/// <see cref="DenseLinear"/> or a <see cref="GgufDequantLinear"/> for any tensor.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class GgufLinear : GgufBlockLinear
{
    private readonly byte[]? _owned;
    private readonly Q4_0SplitLayout? _split;

    /// <summary>Wraps <paramref name="tensor"/>, a 2-D GGUF tensor (ne[0] = input features, ne[1] = output features).</summary>
    /// <exception cref="GgufException">The type has no direct kernel, or the tensor is not 2-D.</exception>
    public GgufLinear(GgufTensorInfo tensor)
        : this(tensor.Name, tensor.File.Location, tensor.Type, tensor.Dimensions, tensor.Pointer)
    {
    }

    /// <summary>Wraps raw blocks of <paramref name="type"/> with dimensions <paramref name="ne"/> at <paramref name="data"/>,
    /// which the caller keeps alive.</summary>
    internal GgufLinear(string name, string location, GgmlType type, long[] ne, byte* data, byte[]? owned = null)
        : base(name, location, type, ne, data, GgufKernels.HasDirectKernel(type), $"{type} has no direct kernel (use GgufLinear.Create)")
    {
        _owned = owned;
        if (type == GgmlType.Q4_0 && KernelIsa.UseAvx2)
        {
            _split = Q4_0SplitLayout.Create(data, Rows, Cols / 32);
        }
    }

    /// <summary>Quantizes a dense <c>[rows, cols]</c> weight to <paramref name="type"/> in memory with llama.cpp's
    /// reference quantizer (<see cref="GgufQuantize"/>): a load-time conversion, e.g. for <c>bench --schemes q4_k</c>.</summary>
    /// <exception cref="GgufException">The type has no direct kernel, or its block does not divide the row length.</exception>
    public static GgufLinear Quantize(TensorView view, GgmlType type)
    {
        if (view.Shape.Length != 2)
        {
            throw new GgufException(GgufError.BadShape, "(in memory)", view.Name, $"shape {view.ShapeText} is not a 2-D weight");
        }

        int rows = checked((int)view.Shape[0]), cols = checked((int)view.Shape[1]);
        if (!GgufKernels.HasDirectKernel(type) || cols % GgmlTypeInfo.BlockSize(type) != 0)
        {
            throw new GgufException(GgufError.UnsupportedTensorType, "(in memory)", view.Name, $"{type} needs a direct kernel and rows that are a multiple of {GgmlTypeInfo.BlockSize(type)}; this row has {cols}");
        }

        int rowBytes = checked((int)GgmlTypeInfo.RowBytes(type, cols));
        byte[] blocks = GC.AllocateUninitializedArray<byte>(checked(rowBytes * rows), pinned: true);
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            view.ReadFloats((long)r * cols, row);
            GgufQuantize.Row(type, row, blocks.AsSpan(r * rowBytes, rowBytes));
        }

        fixed (byte* p = blocks)
        {
            // The array is pinned (pinned object heap), so the pointer stays valid while this weight holds it.
            return new GgufLinear(view.Name, "(in memory)", type, [cols, rows], p, blocks);
        }
    }

    /// <summary>The best <see cref="ILinearWeight"/> for a 2-D GGUF tensor: a direct integer kernel where
    /// <see cref="GgufKernels.HasDirectKernel"/>; <see cref="DenseLinear"/> for F32, F16 and BF16; dequantize-then-dot for the other
    /// dequantizable types.</summary>
    /// <exception cref="GgufException">Not 2-D, or a type QuantSharp cannot dequantize.</exception>
    public static ILinearWeight Create(GgufTensorInfo tensor)
    {
        if (tensor.Dimensions.Length < 2 || tensor.Dimensions.Skip(2).Any(d => d != 1))
        {
            throw new GgufException(GgufError.BadShape, tensor.File.Location, tensor.Name, $"{tensor.DimensionsText} is not a 2-D weight");
        }

        if (GgufKernels.HasDirectKernel(tensor.Type))
        {
            return new GgufLinear(tensor);
        }

        if (tensor.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)
        {
            TensorView view = tensor.ToTensorView()!;
            return new DenseLinear(new TensorView(view.Name, view.DType, [tensor.Dimensions[1], tensor.Dimensions[0]], view.Pointer, view.ByteLength));
        }

        return new GgufDequantLinear(tensor);
    }

    private struct Job
    {
        public byte* W;
        public long RowBytes;
        public GgmlType Type;
        public int Rows;
        public int Cols;
        public byte* X;
        public float* Y;
        public int Tokens;
        public bool Scalar;
        public float* ScaledSums;
        public byte* SplitCodes;
        public Half* SplitScales;
    }

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y) => Multiply(x, tokens, y, scalar: false);

    /// <summary>Same as <see cref="GgufBlockLinear.MatMul"/> through the scalar reference kernels (tests).</summary>
    internal void MatMulScalar(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        LinearDriver.CheckSizes(Name, Rows, Cols, x.Length, tokens, y.Length);
        Multiply(x, tokens, y, scalar: true);
    }

    private void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y, bool scalar)
    {
        if (tokens >= 2 && !scalar && Type == GgmlType.Q6_K)
        {
            // No integer prefill kernel: rows dequantized once, then the float GEMM on the activations rounded to int8
            // per 32 as the decode kernel rounds them, so prefill and decode agree (5632×2048, 64 tokens, 2 threads:
            // 30.9 ms through the per-token row dots, 10.9-12.9 ms this way).
            float[] rounded = System.Buffers.ArrayPool<float>.Shared.Rent(tokens * Cols);
            try
            {
                fixed (float* px = x, py = y, pr = rounded)
                {
                    byte* activations = ThreadScratch.Get(GgufActivations.ScratchBytes(tokens, Cols));
                    GgufActivations.Quantize(px, tokens, Cols, activations);
                    for (int t = 0; t < tokens; t++)
                    {
                        GgufActivations a = GgufActivations.At(activations, tokens, Cols, t);
                        for (int k = 0; k < Cols; k++)
                        {
                            pr[((long)t * Cols) + k] = a.Q[k] * a.Scale[k / 32];
                        }
                    }

                    DenseGemm.MultiplyDequantized(new BlockRows(Data, RowBytes, Type, Cols), Rows, Cols, pr, tokens, py);
                }
            }
            finally
            {
                System.Buffers.ArrayPool<float>.Shared.Return(rounded);
            }

            return;
        }

        // The activations, then (for prefill) each token's per-block d·Σx, in the caller's scratch (worker slices use
        // only ThreadScratch.Tile, so the caller's own slice cannot overwrite them).
        nuint activationBytes = (GgufActivations.ScratchBytes(tokens, Cols) + 63) & ~(nuint)63;
        long blocks = (long)tokens * (Cols / 32);
        byte* scratch = ThreadScratch.Get(activationBytes + (nuint)(blocks * sizeof(float)));
        fixed (float* px = x, py = y)
        {
            GgufActivations.Quantize(px, tokens, Cols, scratch);
            float* scaledSums = (float*)(scratch + activationBytes);
            if (tokens >= 2)
            {
                GgufActivations first = GgufActivations.At(scratch, tokens, Cols, 0);
                InterleavedPrefill.ScaledSums(first.Scale, first.Sum, blocks, scaledSums);
            }

            var job = new Job { W = Data, RowBytes = RowBytes, Type = Type, Rows = Rows, Cols = Cols, X = scratch, Y = py, Tokens = tokens, Scalar = scalar, ScaledSums = scaledSums,
                SplitCodes = scalar || _split == null ? null : _split.Codes, SplitScales = scalar || _split == null ? null : _split.Scales };
            LinearDriver.Run(ref job, &Slice, Rows, Cols, tokens, LinearDriver.Grain(tokens));
        }
    }

    /// <summary>Q4_0 on its split layout (<see cref="Q4_0SplitLayout"/>) through the int4 kernels: decode one row at a
    /// time (<see cref="Int4Kernels.DotRow"/>), prefill in 8-row interleaved tiles (<see cref="InterleavedPrefill"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SplitQ4_0Slice(ref Job job, int start, int end)
    {
        int blocks = job.Cols / 32;
        GgufActivations a = GgufActivations.At(job.X, job.Tokens, job.Cols, 0);
        int r = start;
        if (job.Tokens >= 2)
        {
            byte* tile = ThreadScratch.Tile(InterleavedPrefill.TileBytes(blocks) + (nuint)(InterleavedPrefill.UnpackWorkFloats(blocks) * sizeof(float)));
            float* work = (float*)(tile + InterleavedPrefill.TileBytes(blocks));
            for (int tb = 0; tb < job.Tokens; tb += InterleavedPrefill.TokenBlock)
            {
                int count = Math.Min(InterleavedPrefill.TokenBlock, job.Tokens - tb);
                for (r = start; r + InterleavedPrefill.Rows <= end; r += InterleavedPrefill.Rows)
                {
                    InterleavedPrefill.UnpackInt4(job.SplitCodes + ((long)r * blocks * 16), (long)blocks * 16, job.SplitScales + ((long)r * blocks), null, blocks, 1, blocks, tile, work);
                    InterleavedPrefill.MultiplyBlock(tile, blocks, tb, count, a.Q, a.Scale, job.ScaledSums, job.Y + r, job.Rows);
                }
            }
        }

        if (job.Tokens == 1 && KernelIsa.UseAvx512)
        {
            sbyte* paired = (sbyte*)ThreadScratch.Tile((nuint)blocks * 32);
            Int4Kernels.PairActivations(a.Q, blocks, paired);
            for (; r < end; r++)
            {
                job.Y[r] = Int4Kernels.DotRowAvx512<Nibble4Codes>(job.SplitCodes + ((long)r * blocks * 16), job.SplitScales + ((long)r * blocks), null, 8, 1, blocks, a.Q, paired, a.Scale, a.Sum);
            }

            return;
        }

        for (; r < end; r++)
        {
            for (int t = 0; t < job.Tokens; t++)
            {
                long tb = (long)t * blocks;
                job.Y[((long)t * job.Rows) + r] = Int4Kernels.DotRow<Nibble4Codes>(job.SplitCodes + ((long)r * blocks * 16), job.SplitScales + ((long)r * blocks), null, 8, 1, blocks, a.Q + (tb * 32), a.Scale + tb, a.Sum + tb);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Slice(ref Job job, int start, int end)
    {
        int blocks32 = job.Cols / 32;
        int r = start;
        if (job.SplitCodes != null)
        {
            SplitQ4_0Slice(ref job, start, end);
            return;
        }

        if (!job.Scalar && job.Tokens >= 2 && KernelIsa.UseAvx2 && (job.Type is GgmlType.Q4_K or GgmlType.TQ2_0 || (job.Type == GgmlType.Q8_0 && AvxVnni.IsSupported)))
        {
            // Prefill: 8-row interleaved tiles, a register-blocked GEMM over 4 tokens at a time (InterleavedPrefill);
            // Q4_0 goes through its split layout (SplitQ4_0Slice). Rows past the last full tile take the paths below.
            GgufActivations a = GgufActivations.At(job.X, job.Tokens, job.Cols, 0);
            byte* tile = ThreadScratch.Tile(InterleavedPrefill.TileBytes(blocks32));
            for (int tb = 0; tb < job.Tokens; tb += InterleavedPrefill.TokenBlock)
            {
                int count = Math.Min(InterleavedPrefill.TokenBlock, job.Tokens - tb);
                for (r = start; r + InterleavedPrefill.Rows <= end; r += InterleavedPrefill.Rows)
                {
                    byte* w = job.W + r * job.RowBytes;
                    switch (job.Type)
                    {
                        case GgmlType.Q4_K:
                            InterleavedPrefill.UnpackQ4_K(w, job.RowBytes, blocks32 / 8, tile);
                            break;
                        case GgmlType.Q8_0:
                            InterleavedPrefill.UnpackQ8_0(w, job.RowBytes, blocks32, tile);
                            break;
                        default:
                            InterleavedPrefill.UnpackTQ2_0(w, job.RowBytes, blocks32 / 8, tile);
                            break;
                    }

                    InterleavedPrefill.MultiplyBlock(tile, blocks32, tb, count, a.Q, a.Scale, job.ScaledSums, job.Y + r, job.Rows);
                }
            }
        }

        if (!job.Scalar && job.Tokens >= 2 && GgufTileKernels.HasTile(job.Type))
        {
            // Several tokens where the interleaved GEMM does not apply (Q8_0 without AVX-VNNI) and the last rows of a
            // slice: 4-row tiles (GgufTileKernels). Not for decode: on the TinyLlama-shape model
            // (weights streamed from DRAM) the tiles decoded about 2× slower than one row per call, although they are
            // 2–3× faster on cache-resident matrices (docs/RESULTS.md, third pass).
            float* result = stackalloc float[4];
            for (; r + 4 <= end; r += 4)
            {
                byte* w = job.W + r * job.RowBytes;
                for (int t = 0; t < job.Tokens; t++)
                {
                    GgufActivations a = GgufActivations.At(job.X, job.Tokens, job.Cols, t);
                    GgufTileKernels.Dot4(job.Type, w, job.RowBytes, a, blocks32, result);
                    float* y = job.Y + (long)t * job.Rows + r;
                    Tile4.Store(y, result);
                }
            }
        }

        for (; r < end; r++)
        {
            byte* w = job.W + r * job.RowBytes;
            for (int t = 0; t < job.Tokens; t++)
            {
                GgufActivations a = GgufActivations.At(job.X, job.Tokens, job.Cols, t);
                job.Y[(long)t * job.Rows + r] = job.Scalar ? GgufKernels.DotScalar(job.Type, w, a, blocks32) : GgufKernels.Dot(job.Type, w, a, blocks32);
            }
        }
    }
}
