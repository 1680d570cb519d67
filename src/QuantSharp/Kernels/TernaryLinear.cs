using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>A ternary 1.58-bit weight (<see cref="TernaryScheme"/>), multiplied against int8-quantized activations
/// (<see cref="ActivationQuantizer"/>) with 2-bit codes unpacked in registers.</summary>
[SkipLocalsInit]
internal sealed unsafe class TernaryLinear : PackedLinear
{
    private readonly byte* _q;
    private readonly float* _scales;
    private readonly int _rowBytes;
    private readonly int _scalesPerRow;
    private readonly long _scaleRowStride;
    private readonly int _groupChunks;

    /// <summary>Wraps <c>qweight</c> U8 [rows, ceil(cols/32)·8] and <c>scales</c> F32 [1], [rows] or [rows, groups] per granularity.</summary>
    /// <exception cref="QuantSharpException">A tensor is missing or has the wrong dtype, shape or size.</exception>
    public TernaryLinear(PackedWeight packed)
        : base(packed, QuantSchemeKind.Ternary)
    {
        _rowBytes = PackLayout.RowBytes2(Cols);
        _q = packed.Require("qweight", DType.U8, Rows, _rowBytes).Pointer;
        int chunks = PackLayout.Chunks(Cols);
        switch (Spec.Granularity)
        {
            case TernaryGranularity.PerTensor:
                _scales = (float*)packed.Require("scales", DType.F32, 1).Pointer;
                (_scalesPerRow, _scaleRowStride, _groupChunks) = (1, 0, chunks);
                break;
            case TernaryGranularity.PerRow:
                _scales = (float*)packed.Require("scales", DType.F32, Rows).Pointer;
                (_scalesPerRow, _scaleRowStride, _groupChunks) = (1, 1, chunks);
                break;
            default:
                int groups = (Cols + Spec.GroupSize - 1) / Spec.GroupSize;
                _scales = (float*)packed.Require("scales", DType.F32, Rows, groups).Pointer;
                (_scalesPerRow, _scaleRowStride, _groupChunks) = (groups, groups, Spec.GroupSize / 32);
                break;
        }
    }

    private struct Job : ITileSource
    {
        public byte* Q;
        public float* Scales;
        public long ScaleRowStride;
        public int GroupChunks;
        public int RowBytes;
        public ActivationQuantizer.Q8 X;
        public float* Y;
        public int Rows;
        public int Tokens;

        public readonly long WorkFloats => 0;

        public readonly void Unpack(int row, int chunks, byte* tile, float* work)
            => InterleavedPrefill.UnpackTernary(Q + ((long)row * RowBytes), RowBytes, Scales + (row * ScaleRowStride), ScaleRowStride, GroupChunks, chunks, tile);
    }

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        fixed (float* px = x, py = y)
        {
            var job = new Job
            {
                Q = _q, Scales = _scales, ScaleRowStride = _scaleRowStride, GroupChunks = _groupChunks, RowBytes = _rowBytes,
                X = ActivationQuantizer.Quantize(px, tokens, Cols), Y = py, Rows = Rows, Tokens = tokens,
            };
            LinearDriver.Run(ref job, &Slice, Rows, Cols, tokens, LinearDriver.Grain(tokens));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Slice(ref Job job, int start, int end)
    {
        int chunks = job.X.Chunks;
        int groups = (chunks + job.GroupChunks - 1) / job.GroupChunks;
        int r = start;
        if (job.Tokens >= 2 && KernelIsa.UseAvx2)
        {
            // Prefill: 8-row interleaved tiles, a register-blocked GEMM over 4 tokens at a time (InterleavedPrefill).
            r = InterleavedPrefill.MultiplyRows(job, start, end, job.X, job.Tokens, job.Y, job.Rows);
        }

        if (job.Tokens == 1 && job.GroupChunks >= chunks && KernelIsa.UseAvx512)
        {
            // Decode with one scale per row: single-row AVX-512 kernel, one sequential stream per thread (1 thread
            // 67-74 -> 84-86, 2 threads 142-147 -> 161 G weights/s against the 4-row tile, quick timer 16384 x 4096).
            float* expanded = ThreadScratch.Floats((long)chunks * 8);
            float ds = TernaryKernels.ExpandScales(job.X.D, job.X.Sums, chunks, expanded);
            for (; r < end; r++)
            {
                job.Y[r] = TernaryKernels.DotRowUniformAvx512(job.Q + ((long)r * job.RowBytes), job.Scales[r * job.ScaleRowStride], chunks, job.X.Q, expanded, ds);
            }

            return;
        }

        // Per thread and token: Σ d·sum per scale group, the "− Σ x" term's activation part.
        float* dsums = ThreadScratch.Floats((long)job.Tokens * groups);
        for (int t = 0; t < job.Tokens; t++)
        {
            long tc = (long)t * chunks;
            Int4Kernels.GroupDSums(job.X.D + tc, job.X.Sums + tc, chunks, job.GroupChunks, dsums + ((long)t * groups));
        }

        float* result = stackalloc float[4];
        for (; r + 4 <= end; r += 4)
        {
            byte* q = job.Q + ((long)r * job.RowBytes);
            float* s = job.Scales + (r * job.ScaleRowStride);
            for (int t = 0; t < job.Tokens; t++)
            {
                long tc = (long)t * chunks;
                TernaryKernels.Dot4(q, job.RowBytes, s, job.ScaleRowStride, job.GroupChunks, chunks, job.X.Q + (tc * 32), job.X.D + tc, dsums + ((long)t * groups), result);
                float* y = job.Y + ((long)t * job.Rows) + r;
                Tile4.Store(y, result);
            }
        }

        for (; r < end; r++)
        {
            byte* q = job.Q + ((long)r * job.RowBytes);
            float* s = job.Scales + (r * job.ScaleRowStride);
            for (int t = 0; t < job.Tokens; t++)
            {
                long tc = (long)t * chunks;
                job.Y[((long)t * job.Rows) + r] = TernaryKernels.Dot(q, s, job.GroupChunks, chunks, job.X.Q + (tc * 32), job.X.D + tc, job.X.Sums + tc);
            }
        }
    }

    private protected override void Dequantize(int row, Span<float> destination)
        => TernaryScheme.DequantizeRow(
            new ReadOnlySpan<byte>(_q + ((long)row * _rowBytes), _rowBytes),
            new ReadOnlySpan<float>(_scales + (row * _scaleRowStride), _scalesPerRow),
            _groupChunks * 32,
            destination);
}
