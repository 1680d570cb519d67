using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>An NF4 or FP4 weight (<see cref="FourBitFloatScheme"/>, bitsandbytes code books, absmax per 64 inputs,
/// optionally double-quantized absmax). Activations stay float; codes are looked up in registers, four rows at a time
/// (<see cref="FourBitFloatKernels.Dot4"/>), and for short prompts four tokens at a time per lookup; longer prompts
/// (<see cref="GemmMinTokens"/>) run a float GEMM on tiles dequantized once per call (<see cref="FourBitFloatGemm"/>).</summary>
[SkipLocalsInit]
internal sealed unsafe class Nf4Linear : PackedLinear
{
    private static readonly float[] s_nf4 = Pinned(FourBitFloatScheme.Nf4Code);
    private static readonly float[] s_fp4 = Pinned(FourBitFloatScheme.Fp4Code);

    private readonly byte* _q;
    private readonly int _rowBytes;
    private readonly int _blocks;
    private readonly float* _absmax;
    private readonly sbyte* _absmaxQ;
    private readonly float* _absmaxScale;
    private readonly float _absmaxOffset;
    private readonly float[] _code;

    /// <summary>Wraps <c>qweight</c> U8 [rows, ceil(cols/32)·16] and either <c>absmax</c> F32 [rows, blocks] or
    /// (double quantization) <c>absmax</c> I8 [rows, blocks], <c>absmax_scale</c> F32 [ceil(rows·blocks/256)], <c>absmax_offset</c> F32 [1].</summary>
    /// <exception cref="QuantSharpException">A tensor is missing or has the wrong dtype, shape or size.</exception>
    public Nf4Linear(PackedWeight packed)
        : base(packed, QuantSchemeKind.Nf4)
    {
        _code = Spec.Kind == QuantSchemeKind.Fp4 ? s_fp4 : s_nf4;
        _rowBytes = PackLayout.RowBytes4(Cols);
        _blocks = FourBitFloatScheme.Blocks(Cols);
        _q = packed.Require("qweight", DType.U8, Rows, _rowBytes).Pointer;
        if (Spec.DoubleQuant)
        {
            long total = (long)Rows * _blocks;
            _absmaxQ = (sbyte*)packed.Require("absmax", DType.I8, Rows, _blocks).Pointer;
            _absmaxScale = (float*)packed.Require("absmax_scale", DType.F32, (total + QuantSpec.DoubleQuantBlock - 1) / QuantSpec.DoubleQuantBlock).Pointer;
            _absmaxOffset = *(float*)packed.Require("absmax_offset", DType.F32, 1).Pointer;
        }
        else
        {
            _absmax = (float*)packed.Require("absmax", DType.F32, Rows, _blocks).Pointer;
        }
    }

    private static float[] Pinned(ReadOnlySpan<float> values)
    {
        float[] a = GC.AllocateArray<float>(values.Length, pinned: true);
        values.CopyTo(a);
        return a;
    }

    private struct Job
    {
        public byte* Q;
        public int RowBytes;
        public int Blocks;
        public float* Absmax;
        public sbyte* AbsmaxQ;
        public float* AbsmaxScale;
        public float AbsmaxOffset;
        public float* Code;
        public float* X;
        public int Chunks;
        public float* Y;
        public int Rows;
        public int Tokens;
    }

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        fixed (float* px = x, py = y, code = _code)
        {
            var job = new Job
            {
                Q = _q, RowBytes = _rowBytes, Blocks = _blocks, Absmax = _absmax, AbsmaxQ = _absmaxQ, AbsmaxScale = _absmaxScale,
                AbsmaxOffset = _absmaxOffset, Code = code, X = ActivationQuantizer.PadFloats(px, tokens, Cols), Chunks = PackLayout.Chunks(Cols),
                Y = py, Rows = Rows, Tokens = tokens,
            };
            int grain = UsesGemm(tokens) ? GemmRows : 4;
            LinearDriver.Run(ref job, &Slice, Rows, Cols, tokens, grain);
        }
    }

    /// <summary>Widest row (padded inputs) decoded one row at a time: its F32 activations (24 KiB) stay in half the
    /// L1. At 8192 inputs the single-row kernel measured 25 against the tile's 31 G weights/s.</summary>
    private const int SingleRowMaxCols = 6144;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Slice(ref Job job, int start, int end)
    {
        int padded = job.Chunks * 32;
        int blocks = job.Blocks;
        int r = UsesGemm(job.Tokens) ? GemmTiles(ref job, start, end) : start;
        if (job.Tokens == 1 && KernelIsa.UseAvx512 && padded <= SingleRowMaxCols)
        {
            // Decode: one row at a time, one sequential stream per thread (1 thread 33 -> 44, 2 threads 35-50 -> 72
            // G weights/s against the 4-row tile, quick timer 16384 x 4096). Wider rows keep the 4-row tile: each
            // row re-reads all of x (4 bytes per weight, 8x the weight bytes), which the tile shares across 4 rows.
            float* rowAbsmax = job.AbsmaxQ == null ? null : ThreadScratch.Floats(blocks);
            for (; r < end; r++)
            {
                float* absmax = job.Absmax + ((long)r * blocks);
                if (rowAbsmax != null)
                {
                    DecodeAbsmax(job.AbsmaxQ, job.AbsmaxScale, job.AbsmaxOffset, (long)r * blocks, blocks, rowAbsmax);
                    absmax = rowAbsmax;
                }

                job.Y[r] = FourBitFloatKernels.DotRowAvx512(job.Q + ((long)r * job.RowBytes), absmax, job.Chunks, job.X, job.Code);
            }

            return;
        }

        // Double-quantized absmax is decoded once per 4-row tile (4 · blocks floats), not per weight.
        float* decoded = job.AbsmaxQ == null ? null : ThreadScratch.Floats(4L * blocks);
        float* result = stackalloc float[4];
        for (; r + 4 <= end; r += 4)
        {
            float* absmax = job.Absmax + ((long)r * blocks);
            if (decoded != null)
            {
                DecodeAbsmax(job.AbsmaxQ, job.AbsmaxScale, job.AbsmaxOffset, (long)r * blocks, 4 * blocks, decoded);
                absmax = decoded;
            }

            byte* q = job.Q + ((long)r * job.RowBytes);
            int t = 0;
            if (KernelIsa.UseAvx512)
            {
                // Prefill: 4 rows × 4 tokens per pass, each lookup serving four tokens (bit-identical to one token at a time).
                for (; t + 4 <= job.Tokens; t += 4)
                {
                    FourBitFloatKernels.Dot4Tokens4Avx512(q, job.RowBytes, absmax, blocks, job.Chunks, job.X + ((long)t * padded), padded, job.Code, job.Y + ((long)t * job.Rows) + r, job.Rows);
                }
            }
            else if (KernelIsa.UseAvx2)
            {
                // Without AVX-512 the lookups dominate: one row at a time, each lookup serving four tokens.
                for (; t + 4 <= job.Tokens; t += 4)
                {
                    for (int i = 0; i < 4; i++)
                    {
                        FourBitFloatKernels.DotTokens4Avx2(q + ((long)i * job.RowBytes), absmax + (i * blocks), job.Chunks, job.X + ((long)t * padded), padded, job.Code, job.Y + ((long)t * job.Rows) + r + i, job.Rows);
                    }
                }
            }

            for (; t < job.Tokens; t++)
            {
                FourBitFloatKernels.Dot4(q, job.RowBytes, absmax, blocks, job.Chunks, job.X + ((long)t * padded), job.Code, result);
                float* y = job.Y + ((long)t * job.Rows) + r;
                Tile4.Store(y, result);
            }
        }

        for (; r < end; r++)
        {
            float* absmax = job.Absmax + ((long)r * blocks);
            if (decoded != null)
            {
                DecodeAbsmax(job.AbsmaxQ, job.AbsmaxScale, job.AbsmaxOffset, (long)r * blocks, blocks, decoded);
                absmax = decoded;
            }

            byte* q = job.Q + ((long)r * job.RowBytes);
            for (int t = 0; t < job.Tokens; t++)
            {
                job.Y[((long)t * job.Rows) + r] = FourBitFloatKernels.Dot(q, absmax, job.Chunks, job.X + ((long)t * padded), job.Code);
            }
        }
    }

    /// <summary>Rows per prefill GEMM tile on this CPU (<see cref="FourBitFloatGemm"/>).</summary>
    private static int GemmRows => KernelIsa.UseAvx512 ? FourBitFloatGemm.RowsAvx512 : FourBitFloatGemm.RowsAvx2;

    /// <summary>Whether a call with <paramref name="tokens"/> tokens runs the prefill GEMM: from
    /// <see cref="GemmMinTokens"/> tokens on, where the one dequantization of the tile pays off.</summary>
    private static bool UsesGemm(int tokens) => tokens >= GemmMinTokens && KernelIsa.UseAvx2;

    /// <summary>Fewest tokens for the prefill GEMM; fewer run the 4-row lookup kernels (bit-identical to decode). The
    /// tile's dequantization costs about as much as 6 tokens' multiply-adds with AVX-512 (measured: the GEMM is ahead
    /// from 8 tokens on, 4096 × 2048, one core) and about 10 with AVX2, where the lookup kernels lose less.</summary>
    internal static int GemmMinTokens => KernelIsa.UseAvx512 ? 8 : 12;

    /// <summary>Runs the whole GEMM tiles of rows [<paramref name="start"/>, <paramref name="end"/>) for all tokens
    /// and returns the first row it left (the tail of fewer than a tile's rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int GemmTiles(ref Job job, int start, int end)
    {
        int tileRows = GemmRows, blocks = job.Blocks, padded = job.Chunks * 32;
        if (end - start < tileRows)
        {
            return start;
        }

        long workFloats = FourBitFloatGemm.WorkFloats(tileRows, blocks);
        float* work = ThreadScratch.Floats(workFloats + ((long)tileRows * blocks));
        float* decoded = work + workFloats;
        int r = start;
        for (; r + tileRows <= end; r += tileRows)
        {
            float* absmax = job.Absmax + ((long)r * blocks);
            if (job.AbsmaxQ != null)
            {
                DecodeAbsmax(job.AbsmaxQ, job.AbsmaxScale, job.AbsmaxOffset, (long)r * blocks, tileRows * blocks, decoded);
                absmax = decoded;
            }

            FourBitFloatGemm.MultiplyTile(tileRows, job.Q + ((long)r * job.RowBytes), job.RowBytes, absmax, blocks, job.Chunks, job.Code, job.X, padded, job.Tokens, job.Y + r, job.Rows, work);
        }

        return r;
    }

    /// <summary>Decodes <paramref name="count"/> double-quantized absmax values from flat index <paramref name="first"/>
    /// (<see cref="FourBitFloatScheme.DoubleQuantAbsmax"/>), one run of <see cref="QuantSpec.DoubleQuantBlock"/> scale at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeAbsmax(sbyte* q, float* scale, float offset, long first, int count, float* destination)
    {
        long i = first, last = first + count;
        while (i < last)
        {
            long runEnd = Math.Min(last, ((i / QuantSpec.DoubleQuantBlock) + 1) * QuantSpec.DoubleQuantBlock);
            float s = scale[i / QuantSpec.DoubleQuantBlock];
            if (Avx2.IsSupported)
            {
                // offset + s·q as a separate multiply and add, so the values equal the scalar formula bit for bit.
                Vector256<float> vs = Vector256.Create(s), vo = Vector256.Create(offset);
                for (; i + 8 <= runEnd; i += 8)
                {
                    Vector256<float> v = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + i));
                    Avx.Store(destination + (i - first), (v * vs) + vo);
                }
            }

            for (; i < runEnd; i++)
            {
                destination[i - first] = FourBitFloatScheme.DoubleQuantAbsmax(q[i], s, offset);
            }
        }
    }

    private protected override void Dequantize(int row, Span<float> destination)
    {
        float* decoded = stackalloc float[Math.Min(_blocks, 1024)];
        float* absmax = _absmax + ((long)row * _blocks);
        if (_absmaxQ != null)
        {
            if (_blocks > 1024)
            {
                decoded = ThreadScratch.Floats(_blocks);
            }

            DecodeAbsmax(_absmaxQ, _absmaxScale, _absmaxOffset, (long)row * _blocks, _blocks, decoded);
            absmax = decoded;
        }

        FourBitFloatScheme.DequantizeRow(new ReadOnlySpan<byte>(_q + ((long)row * _rowBytes), _rowBytes), new ReadOnlySpan<float>(absmax, _blocks), _code, destination);
    }
}
