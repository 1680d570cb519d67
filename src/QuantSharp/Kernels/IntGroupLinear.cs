using System.Numerics.Tensors;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// A grouped int4/int3/int2 weight in the <see cref="IntGroupScheme"/> layout, optionally with a GPTQ act-order
/// <c>g_idx</c>. Int2 and int3 without <c>g_idx</c> decode (up to <see cref="PackedTokens"/> tokens) on the packed codes
/// against int8 activations (<see cref="IntGroupKernels"/>, AVX2). Everything else, and longer prompts, takes the generic
/// kernel: rows are dequantized once per call, 64 at a time, into per-thread scratch and multiplied with every token
/// by the blocked F32 GEMM (<see cref="PackedLinear"/>'s dequantized path), so prefill amortises the unpacking;
/// <see cref="MultiplyReference"/> is its scalar twin.
/// </summary>
[SkipLocalsInit]
internal sealed unsafe class IntGroupLinear : PackedLinear
{
    /// <summary>Suffix of the optional act-order group index part.</summary>
    public const string GIdxSuffix = "g_idx";

    private readonly byte* _q;
    private readonly Half* _scales;
    private readonly byte* _zeros;
    private readonly int* _gIdx;
    private readonly int _groups;
    private readonly int _rowBytes;

    /// <summary>Wraps <c>qweight</c>, <c>scales</c>, <c>zeros</c> (asymmetric) and the optional <c>g_idx</c>.</summary>
    /// <exception cref="QuantSharpException">A tensor is missing, has the wrong dtype/shape/size, or a g_idx value is out of range.</exception>
    public IntGroupLinear(PackedWeight packed)
        : base(packed, packed.Spec.Kind)
    {
        if (!Spec.IsIntGroup)
        {
            throw new QuantSharpException($"'{packed.Prefix}': {Spec.Name} is not an int4/int3/int2 scheme");
        }

        _groups = Int4Scheme.Groups(Cols, Spec.GroupSize);
        _rowBytes = IntGroupScheme.RowBytes(Spec.Bits, Cols);
        _q = packed.Require("qweight", DType.U8, Rows, _rowBytes).Pointer;
        _scales = (Half*)packed.Require("scales", DType.F16, Rows, _groups).Pointer;
        _zeros = Spec.Symmetric ? null : packed.Require("zeros", DType.U8, Rows, _groups).Pointer;
        if (packed.Parts.ContainsKey(GIdxSuffix))
        {
            _gIdx = (int*)packed.Require(GIdxSuffix, DType.I32, Cols).Pointer;
            for (int c = 0; c < Cols; c++)
            {
                if ((uint)_gIdx[c] >= (uint)_groups)
                {
                    throw new QuantSharpException($"tensor '{packed.Prefix}.{GIdxSuffix}': value {_gIdx[c]} at column {c} is outside 0..{_groups - 1}");
                }
            }
        }
    }

    /// <summary>True when the weight carries an act-order <c>g_idx</c>.</summary>
    public bool HasGIdx => _gIdx != null;

    /// <summary>Up to this many tokens an int2/int3 weight of <paramref name="bits"/> bits is multiplied on its packed
    /// codes, one 4-row tile per token while it sits in L1; longer prompts dequantize each row once for the float GEMM.
    /// Measured on the TinyLlama shape, 2 threads, prefill tok/s packed / GEMM: int3 16 tokens 38.9 / 26.1, 32 tokens
    /// 35.5 / 49.3; int2 16 tokens 64.1 / 26.2, 32 tokens 57.1 / 46.7, 64 tokens GEMM 74.</summary>
    internal static int PackedTokens(int bits) => bits == 2 ? 32 : 16;

    /// <summary>True when <see cref="Multiply"/> can take the packed int2/int3 kernel.</summary>
    private bool OnPackedCodes => Spec.Bits is 2 or 3 && _gIdx == null && KernelIsa.UseAvx2;

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        if (!OnPackedCodes)
        {
            MultiplyDequantized(x, tokens, y);
            return;
        }

        if (tokens > PackedTokens(Spec.Bits))
        {
            // The float GEMM on the activations rounded to int8 as the packed kernel rounds them, so prefill and
            // decode agree.
            MultiplyDequantizedRounded(x, tokens, y);
            return;
        }

        fixed (float* px = x, py = y)
        {
            ActivationQuantizer.Q8 q8 = ActivationQuantizer.Quantize(px, tokens, Cols);
            if (Spec.Bits == 2)
            {
                IntGroupKernels.PermuteActivations(q8.Q, (long)tokens * q8.Chunks);
            }

            var job = new PackedJob
            {
                Bits = Spec.Bits,
                Q = _q, Scales = _scales, Zeros = _zeros, Groups = _groups, GroupChunks = Spec.GroupSize / 32, RowBytes = _rowBytes,
                X = q8, Y = py, Rows = Rows, Tokens = tokens,
            };
            LinearDriver.Run(ref job, &PackedSlice, Rows, Cols, tokens, 4);
        }
    }

    private struct PackedJob
    {
        public int Bits;
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
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackedSlice(ref PackedJob job, int start, int end)
    {
        int chunks = job.X.Chunks;
        int groups = job.Groups;
        if (job.Tokens == 1 && Int4Kernels.RegisterFactors(job.GroupChunks))
        {
            // Decode: one row at a time with the group factors held in registers (Int4Kernels.DotRow), as int4 decodes
            // (quick timer, int3 5632x2048, 1 thread, alternated: 4-row tile 14.0-15.5, this 17.9-20.3 G weights/s;
            // TinyLlama shape int2 decode at 2 threads 47.2-48.8 -> 56.5-58.6 tok/s).
            for (int r = start; r < end; r++)
            {
                byte* q = job.Q + ((long)r * job.RowBytes);
                Half* s = job.Scales + ((long)r * groups);
                byte* z = job.Zeros == null ? null : job.Zeros + ((long)r * groups);
                job.Y[r] = job.Bits == 3
                    ? Int4Kernels.DotRow<Int3Codes>(q, s, z, 4, job.GroupChunks, chunks, job.X.Q, job.X.D, job.X.Sums)
                    : KernelIsa.UseAvx512
                        ? Int4Kernels.DotRowAvx512<Crumb2Codes>(q, s, z, 2, job.GroupChunks, chunks, job.X.Q, job.X.Q, job.X.D, job.X.Sums)
                        : Int4Kernels.DotRow<Crumb2Codes>(q, s, z, 2, job.GroupChunks, chunks, job.X.Q, job.X.D, job.X.Sums);
            }

            return;
        }

        float* scales = ThreadScratch.Floats((4L + job.Tokens) * groups);
        float* dsums = scales + (4L * groups);
        for (int t = 0; t < job.Tokens; t++)
        {
            long tc = (long)t * chunks;
            Int4Kernels.GroupDSums(job.X.D + tc, job.X.Sums + tc, chunks, job.GroupChunks, dsums + ((long)t * groups));
        }

        float* result = stackalloc float[4];
        for (int r = start; r < end;)
        {
            // Four rows per tile; a tail row runs the same four-row arithmetic with strides of 0 (so every row's sum is
            // computed alike, whichever slice it falls in).
            int n = end - r >= 4 ? 4 : 1;
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(job.Scales + ((long)r * groups), n * groups), new Span<float>(scales, n * groups));
            long rowStride = n == 4 ? job.RowBytes : 0;
            long groupStride = n == 4 ? groups : 0;
            byte* q = job.Q + ((long)r * job.RowBytes);
            byte* z = job.Zeros == null ? null : job.Zeros + ((long)r * groups);
            for (int t = 0; t < job.Tokens; t++)
            {
                long tc = (long)t * chunks;
                if (job.Bits == 2)
                {
                    IntGroupKernels.Dot4<Crumb2Codes>(q, rowStride, scales, z, 2, groupStride, groups, job.GroupChunks, chunks, job.X.Q + (tc * 32), job.X.D + tc, dsums + ((long)t * groups), result);
                }
                else
                {
                    IntGroupKernels.Dot4<Int3Codes>(q, rowStride, scales, z, 4, groupStride, groups, job.GroupChunks, chunks, job.X.Q + (tc * 32), job.X.D + tc, dsums + ((long)t * groups), result);
                }

                float* y = job.Y + ((long)t * job.Rows) + r;
                if (n == 4)
                {
                    Tile4.Store(y, result);
                }
                else
                {
                    *y = result[0];
                }
            }

            r += n;
        }
    }

    /// <summary>Scalar reference of <see cref="ILinearWeight.MatMul"/>: dequantize, then a sequential double-accumulated
    /// dot (with the activations rounded to int8 as <see cref="ActivationQuantizer"/> rounds them where the packed int2/int3
    /// kernel runs).</summary>
    internal void MultiplyReference(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        if (OnPackedCodes)
        {
            float[] rounded = new float[tokens * Cols];
            fixed (float* px = x, pr = rounded)
            {
                ActivationQuantizer.Round(px, tokens, Cols, pr);
            }

            x = rounded;
        }

        float[] row = new float[Cols];
        for (int r = 0; r < Rows; r++)
        {
            Dequantize(r, row);
            for (int t = 0; t < tokens; t++)
            {
                double sum = 0;
                for (int c = 0; c < Cols; c++)
                {
                    sum += (double)row[c] * x[(t * Cols) + c];
                }

                y[(t * Rows) + r] = (float)sum;
            }
        }
    }

    private protected override void Dequantize(int row, Span<float> destination)
        => IntGroupScheme.DequantizeRow(
            Spec.Bits,
            new ReadOnlySpan<byte>(_q + ((long)row * _rowBytes), _rowBytes),
            new ReadOnlySpan<Half>(_scales + ((long)row * _groups), _groups),
            _zeros == null ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(_zeros + ((long)row * _groups), _groups),
            _gIdx == null ? ReadOnlySpan<int>.Empty : new ReadOnlySpan<int>(_gIdx, Cols),
            Spec.GroupSize,
            destination);
}
