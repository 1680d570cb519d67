using System.Numerics.Tensors;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>A group-wise int4 weight (<see cref="Int4Scheme"/>), multiplied against int8-quantized activations
/// (<see cref="ActivationQuantizer"/>) with nibbles unpacked in registers.</summary>
[SkipLocalsInit]
internal sealed unsafe class Int4Linear : PackedLinear
{
    private readonly byte* _q;
    private readonly Half* _scales;
    private readonly byte* _zeros;
    private readonly int _groups;
    private readonly int _rowBytes;

    /// <summary>Wraps <c>qweight</c> U8 [rows, ceil(cols/32)·16], <c>scales</c> F16 [rows, groups] and (asymmetric) <c>zeros</c> U8 [rows, groups].</summary>
    /// <exception cref="QuantSharpException">A tensor is missing or has the wrong dtype, shape or size.</exception>
    public Int4Linear(PackedWeight packed)
        : base(packed, QuantSchemeKind.Int4)
    {
        _groups = Int4Scheme.Groups(Cols, Spec.GroupSize);
        _rowBytes = PackLayout.RowBytes4(Cols);
        _q = packed.Require("qweight", DType.U8, Rows, _rowBytes).Pointer;
        _scales = (Half*)packed.Require("scales", DType.F16, Rows, _groups).Pointer;
        _zeros = Spec.Symmetric ? null : packed.Require("zeros", DType.U8, Rows, _groups).Pointer;
    }

    /// <summary>From this many tokens on, each 4-row tile is unpacked once and reused by every token.</summary>
    internal const int PrefillUnpackTokens = 2;

    /// <summary>Up to this many tokens (batched decode of several sequences) go through
    /// <see cref="Int4Kernels.DotRow4TokensAvx512"/>, each row decoded once for four tokens; more take the prefill tiles.</summary>
    internal const int SmallBatchTokens = 4;

    private struct Job : ITileSource
    {
        public byte* Q;
        public Half* Scales;
        public byte* Zeros;
        public int Groups;
        public int GroupChunks;
        public int RowBytes;
        public ActivationQuantizer.Q8 X;
        public float* Y;
        public int Rows;
        public int Tokens;

        public readonly long WorkFloats => InterleavedPrefill.UnpackWorkFloats(Groups);

        public readonly void Unpack(int row, int chunks, byte* tile, float* work)
            => InterleavedPrefill.UnpackInt4(Q + ((long)row * RowBytes), RowBytes, Scales + ((long)row * Groups), Zeros == null ? null : Zeros + ((long)row * Groups), Groups, GroupChunks, chunks, tile, work);
    }

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        fixed (float* px = x, py = y)
        {
            var job = new Job
            {
                Q = _q, Scales = _scales, Zeros = _zeros, Groups = _groups, GroupChunks = Spec.GroupSize / 32, RowBytes = _rowBytes,
                X = ActivationQuantizer.Quantize(px, tokens, Cols), Y = py, Rows = Rows, Tokens = tokens,
            };
            LinearDriver.Run(ref job, &Slice, Rows, Cols, tokens, LinearDriver.Grain(tokens));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Slice(ref Job job, int start, int end)
    {
        int chunks = job.X.Chunks;
        int groups = job.Groups;
        int r = start;
        if (job.Tokens >= 2 && job.Tokens <= SmallBatchTokens && Int4Kernels.RegisterFactors(job.GroupChunks) && KernelIsa.UseAvx512)
        {
            SmallBatch(ref job, start, end);
            return;
        }

        if (job.Tokens >= 2 && KernelIsa.UseAvx2)
        {
            // Prefill: 8-row interleaved tiles, a register-blocked GEMM over 4 tokens at a time (InterleavedPrefill).
            r = InterleavedPrefill.MultiplyRows(job, start, end, job.X, job.Tokens, job.Y, job.Rows);
        }

        if (job.Tokens == 1 && Int4Kernels.RegisterFactors(job.GroupChunks) && Avx2.IsSupported && Fma.IsSupported)
        {
            // Decode: the single-row kernel with register-held factors (1.2-1.9x the 4-row tile on one core, issue 7),
            // with AVX-512 two chunks per step on activations reordered once per call.
            if (KernelIsa.UseAvx512)
            {
                // 1 thread 41.5 -> 47.5, 2 threads 78 -> 92 G weights/s (quick timer, 16384 x 4096, g32 and g128).
                sbyte* paired = (sbyte*)ThreadScratch.Tile((nuint)chunks * 32);
                Int4Kernels.PairActivations(job.X.Q, chunks, paired);
                for (; r < end; r++)
                {
                    job.Y[r] = Int4Kernels.DotRowAvx512<Nibble4Codes>(job.Q + ((long)r * job.RowBytes), job.Scales + ((long)r * groups), job.Zeros == null ? null : job.Zeros + ((long)r * groups), 8, job.GroupChunks, chunks, job.X.Q, paired, job.X.D, job.X.Sums);
                }

                return;
            }

            for (; r < end; r++)
            {
                job.Y[r] = Int4Kernels.DotRow<Nibble4Codes>(job.Q + ((long)r * job.RowBytes), job.Scales + ((long)r * groups), job.Zeros == null ? null : job.Zeros + ((long)r * groups), 8, job.GroupChunks, chunks, job.X.Q, job.X.D, job.X.Sums);
            }

            return;
        }

        // Per thread: 4 rows of F32 scales, then each token's per-group Σ d·sum (the zero-point term's activation part).
        // With several tokens (prefill), each 4-row tile is unpacked once to one code byte per weight (after the floats).
        bool unpack = job.Tokens >= PrefillUnpackTokens && Avx2.IsSupported && Fma.IsSupported;
        long floats = ((4L * groups) + ((long)job.Tokens * groups) + 15) & ~15L;
        byte* scratch = ThreadScratch.Get((nuint)((floats * sizeof(float)) + (unpack ? 4L * chunks * 32 : 0)));
        float* scales = (float*)scratch;
        float* dsums = scales + (4 * groups);
        byte* codes = scratch + (floats * sizeof(float));
        for (int t = 0; t < job.Tokens; t++)
        {
            long tc = (long)t * chunks;
            Int4Kernels.GroupDSums(job.X.D + tc, job.X.Sums + tc, chunks, job.GroupChunks, dsums + ((long)t * groups));
        }

        float* result = stackalloc float[4];
        for (; r + 4 <= end; r += 4)
        {
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(job.Scales + ((long)r * groups), 4 * groups), new Span<float>(scales, 4 * groups));
            byte* q = job.Q + ((long)r * job.RowBytes);
            byte* z = job.Zeros == null ? null : job.Zeros + ((long)r * groups);
            if (unpack)
            {
                Int4Kernels.Unpack4(q, job.RowBytes, chunks, codes);
            }

            for (int t = 0; t < job.Tokens; t++)
            {
                long tc = (long)t * chunks;
                if (unpack)
                {
                    Int4Kernels.Dot4Codes(codes, scales, z, groups, job.GroupChunks, chunks, job.X.Q + (tc * 32), job.X.D + tc, dsums + ((long)t * groups), result);
                }
                else
                {
                    Int4Kernels.Dot4(q, job.RowBytes, scales, z, groups, job.GroupChunks, chunks, job.X.Q + (tc * 32), job.X.D + tc, dsums + ((long)t * groups), result);
                }

                float* y = job.Y + ((long)t * job.Rows) + r;
                Tile4.Store(y, result);
            }
        }

        for (; r < end; r++)
        {
            byte* q = job.Q + ((long)r * job.RowBytes);
            Half* s = job.Scales + ((long)r * groups);
            byte* z = job.Zeros == null ? null : job.Zeros + ((long)r * groups);
            for (int t = 0; t < job.Tokens; t++)
            {
                long tc = (long)t * chunks;
                job.Y[((long)t * job.Rows) + r] = Int4Kernels.Dot(q, s, z, job.GroupChunks, chunks, job.X.Q + (tc * 32), job.X.D + tc, job.X.Sums + tc);
            }
        }
    }

    /// <summary>Batched decode: every row is read once for each four tokens (the rest one token at a time).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallBatch(ref Job job, int start, int end)
    {
        int chunks = job.X.Chunks;
        int groups = job.Groups;
        long tokenBytes = (long)chunks * 32;
        sbyte* paired = (sbyte*)ThreadScratch.Tile((nuint)(job.Tokens * tokenBytes));
        for (int t = 0; t < job.Tokens; t++)
        {
            Int4Kernels.PairActivations(job.X.Q + (t * tokenBytes), chunks, paired + (t * tokenBytes));
        }

        float* four = stackalloc float[4];
        for (int r = start; r < end; r++)
        {
            byte* q = job.Q + ((long)r * job.RowBytes);
            Half* s = job.Scales + ((long)r * groups);
            byte* z = job.Zeros == null ? null : job.Zeros + ((long)r * groups);
            int t = 0;
            for (; t + 4 <= job.Tokens; t += 4)
            {
                long tc = (long)t * chunks;
                Int4Kernels.DotRow4TokensAvx512(q, s, z, job.GroupChunks, chunks, job.X.Q + (tc * 32), paired + (tc * 32), job.X.D + tc, job.X.Sums + tc, chunks, four);
                for (int k = 0; k < 4; k++)
                {
                    job.Y[((long)(t + k) * job.Rows) + r] = four[k];
                }
            }

            for (; t < job.Tokens; t++)
            {
                long tc = (long)t * chunks;
                job.Y[((long)t * job.Rows) + r] = Int4Kernels.DotRowAvx512<Nibble4Codes>(q, s, z, 8, job.GroupChunks, chunks, job.X.Q + (tc * 32), paired + (tc * 32), job.X.D + tc, job.X.Sums + tc);
            }
        }
    }

    private protected override void Dequantize(int row, Span<float> destination)
        => Int4Scheme.DequantizeRow(
            new ReadOnlySpan<byte>(_q + ((long)row * _rowBytes), _rowBytes),
            new ReadOnlySpan<Half>(_scales + ((long)row * _groups), _groups),
            _zeros == null ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(_zeros + ((long)row * _groups), _groups),
            Spec.GroupSize,
            destination);
}
