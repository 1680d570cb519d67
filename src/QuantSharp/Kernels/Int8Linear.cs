using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>An int8 weight (<see cref="Int8Scheme"/>): activations are quantized to int8 per 32-block once per
/// call (<see cref="ActivationQuantizer"/>), then each row is an integer dot product times its scale.</summary>
[SkipLocalsInit]
internal sealed unsafe class Int8Linear : PackedLinear
{
    private readonly sbyte* _w;
    private readonly float* _scales;

    /// <summary>Wraps packed tensors <c>qweight</c> I8 [rows, cols] and <c>scales</c> F32 [rows].</summary>
    /// <exception cref="QuantSharpException">A tensor is missing or has the wrong dtype, shape or size.</exception>
    public Int8Linear(PackedWeight packed)
        : base(packed, QuantSchemeKind.Int8)
    {
        _w = (sbyte*)packed.Require("qweight", DType.I8, Rows, Cols).Pointer;
        _scales = (float*)packed.Require("scales", DType.F32, Rows).Pointer;
    }

    private struct Job : ITileSource
    {
        public sbyte* W;
        public float* Scales;
        public ActivationQuantizer.Q8 X;
        public float* Y;
        public int Rows;
        public int Cols;
        public int Tokens;

        public readonly long WorkFloats => 0;

        public readonly void Unpack(int row, int chunks, byte* tile, float* work)
            => InterleavedPrefill.UnpackInt8(W + ((long)row * Cols), Cols, Scales + row, chunks, tile);
    }

    /// <summary>Without AVX-VNNI, up to this many tokens (batched decode) run the decode kernel, each row read once for
    /// four tokens (<see cref="Int8Kernels.Dot4Tokens"/>); more go through the dequantized F32 GEMM. (With AVX-VNNI every
    /// multi-token product takes the interleaved GEMM, whose per-token results do not depend on how many tokens share a
    /// call: the server's concurrent requests then decode exactly as one request at a time.)</summary>
    internal const int SmallBatchTokens = 16;

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        if (tokens >= 2 && tokens <= SmallBatchTokens && !AvxVnni.IsSupported && Avx2.IsSupported && Fma.IsSupported)
        {
            fixed (float* px = x, py = y)
            {
                var job = new Job { W = _w, Scales = _scales, X = ActivationQuantizer.Quantize(px, tokens, Cols), Y = py, Rows = Rows, Cols = Cols, Tokens = tokens };
                LinearDriver.Run(ref job, &SmallBatchSlice, Rows, Cols, tokens, grain: 4);
            }

            return;
        }

        if (tokens >= 2 && !AvxVnni.IsSupported)
        {
            // Without AVX-VNNI (maddubs would saturate on codes up to 255): dequantized rows through the F32 GEMM, on
            // the activations rounded to int8 per 32 as every int8 path does, so prefill and decode agree.
            float[] rounded = System.Buffers.ArrayPool<float>.Shared.Rent(tokens * Cols);
            try
            {
                fixed (float* px = x)
                {
                    ActivationQuantizer.Q8 q = ActivationQuantizer.Quantize(px, tokens, Cols);
                    int padded = q.Chunks * ActivationQuantizer.Block;
                    for (int t = 0; t < tokens; t++)
                    {
                        for (int c = 0; c < Cols; c++)
                        {
                            rounded[(t * Cols) + c] = q.Q[((long)t * padded) + c] * q.D[((long)t * q.Chunks) + (c / ActivationQuantizer.Block)];
                        }
                    }
                }

                MultiplyDequantized(rounded.AsSpan(0, tokens * Cols), tokens, y);
            }
            finally
            {
                System.Buffers.ArrayPool<float>.Shared.Return(rounded);
            }

            return;
        }

        fixed (float* px = x, py = y)
        {
            var job = new Job { W = _w, Scales = _scales, X = ActivationQuantizer.Quantize(px, tokens, Cols), Y = py, Rows = Rows, Cols = Cols, Tokens = tokens };
            LinearDriver.Run(ref job, &Slice, Rows, Cols, tokens, LinearDriver.Grain(tokens));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Slice(ref Job job, int start, int end)
    {
        int chunks = job.X.Chunks;
        int r = start;
        if (job.Tokens >= 2 && job.Cols % 32 == 0 && AvxVnni.IsSupported && Fma.IsSupported)
        {
            // Prefill: 8-row interleaved tiles of unsigned codes w + 128, a register-blocked GEMM (InterleavedPrefill).
            r = InterleavedPrefill.MultiplyRows(job, start, end, job.X, job.Tokens, job.Y, job.Rows);
        }

        if (job.Tokens >= 2 && job.Cols % 32 == 0 && AvxVnni.IsSupported && Fma.IsSupported)
        {
            // Prefill: each 4-row tile copied once as unsigned codes, then three vector ops per row and 32 weights per token.
            byte* codes = ThreadScratch.Get((nuint)(4L * job.Cols));
            float* result = stackalloc float[4];
            for (; r + 4 <= end; r += 4)
            {
                Int8Kernels.Unpack4(job.W + ((long)r * job.Cols), job.Cols, codes);
                for (int t = 0; t < job.Tokens; t++)
                {
                    Int8Kernels.Dot4Codes(codes, job.Cols, job.X.Q + ((long)t * chunks * 32), job.X.D + ((long)t * chunks), result);
                    float* y = job.Y + ((long)t * job.Rows) + r;
                    y[0] = job.Scales[r] * result[0];
                    y[1] = job.Scales[r + 1] * result[1];
                    y[2] = job.Scales[r + 2] * result[2];
                    y[3] = job.Scales[r + 3] * result[3];
                }
            }
        }

        for (; r < end; r++)
        {
            sbyte* w = job.W + ((long)r * job.Cols);
            float scale = job.Scales[r];
            for (int t = 0; t < job.Tokens; t++)
            {
                job.Y[((long)t * job.Rows) + r] = scale * Int8Kernels.Dot(w, job.Cols, job.X.Q + ((long)t * chunks * 32), job.X.D + ((long)t * chunks));
            }
        }
    }

    /// <summary>Batched decode: each row once per four tokens, the rest one token at a time; bit-identical to MatVec.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallBatchSlice(ref Job job, int start, int end)
    {
        int chunks = job.X.Chunks;
        float* four = stackalloc float[4];
        for (int r = start; r < end; r++)
        {
            sbyte* w = job.W + ((long)r * job.Cols);
            float scale = job.Scales[r];
            int t = 0;
            for (; t + 4 <= job.Tokens; t += 4)
            {
                Int8Kernels.Dot4Tokens(w, job.Cols, job.X.Q + ((long)t * chunks * 32), job.X.D + ((long)t * chunks), chunks, four);
                for (int k = 0; k < 4; k++)
                {
                    job.Y[((long)(t + k) * job.Rows) + r] = scale * four[k];
                }
            }

            for (; t < job.Tokens; t++)
            {
                job.Y[((long)t * job.Rows) + r] = scale * Int8Kernels.Dot(w, job.Cols, job.X.Q + ((long)t * chunks * 32), job.X.D + ((long)t * chunks));
            }
        }
    }

    private protected override void Dequantize(int row, Span<float> destination)
        => Int8Scheme.DequantizeRow(new ReadOnlySpan<sbyte>(_w + ((long)row * Cols), Cols), _scales[row], destination);
}
