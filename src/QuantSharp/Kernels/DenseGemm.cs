namespace QuantSharp.Kernels;

/// <summary>
/// Prefill GEMM for float weight rows (F32, or F16/BF16 rows converted a tile at a time): the tokens lie in the vector
/// lanes and each weight is broadcast, so no weight tile needs transposing. The activations are transposed once per
/// call (<see cref="TransposeTokens"/>) into blocks of <see cref="Lanes"/> tokens, <c>xT[k · Lanes + j]</c>; the
/// micro-kernel keeps <see cref="Rows"/> rows × <see cref="Vectors"/> token vectors of accumulators and per input
/// k issues <see cref="Vectors"/> loads and <see cref="Rows"/> broadcasts for <c>Rows · Vectors</c> FMAs, so it is bound by
/// the FMA ports, not by loads (the dot-product tiles it replaces re-read activation rows from L2 for every 4 rows).
/// </summary>
/// <remarks>Each output sums <see cref="KBlock"/> inputs at a time in one FMA chain in k order (<c>s = fma(w[k], x[k], s)</c>
/// from 0) and adds the block sums in order, so the rounding error grows with the block length plus the number of
/// blocks, not with the whole row; the same on every path and thread count (AVX-512: 16 lanes × 2 vectors × 12 rows =
/// 24 accumulators; AVX2: 8 × 2 × 6 = 12).</remarks>
[SkipLocalsInit]
internal static unsafe class DenseGemm
{
    /// <summary>True where the vector kernels run (else callers use <see cref="DenseKernels.Gemm"/>).</summary>
    internal static bool IsSupported => KernelIsa.UseAvx2;

    /// <summary>Tokens per vector: 16 with AVX-512, 8 with AVX2.</summary>
    internal static int Lanes => KernelIsa.UseAvx512 ? 16 : 8;

    /// <summary>Inputs summed in one chain before the block sum is added to the output.</summary>
    internal const int KBlock = 128;

    /// <summary>Token vectors per micro-tile.</summary>
    internal const int Vectors = 2;

    /// <summary>Rows per micro-tile: 12 with AVX-512, 6 with AVX2.</summary>
    internal static int Rows => KernelIsa.UseAvx512 ? 12 : 6;

    /// <summary>Tokens per transposed block (<see cref="Lanes"/> · <see cref="Vectors"/>).</summary>
    internal static int BlockTokens => Lanes * Vectors;

    /// <summary>Floats of the transposed activations of <paramref name="tokens"/> tokens (whole blocks).</summary>
    internal static long TransposedFloats(int tokens, int cols) => (long)((tokens + BlockTokens - 1) / BlockTokens) * BlockTokens * cols;

    /// <summary>Writes token-major <paramref name="x"/> (<paramref name="tokens"/> rows of <paramref name="cols"/>) as
    /// blocks of <see cref="BlockTokens"/> tokens, <c>xT[b · BlockTokens · cols + k · BlockTokens + j] = x[(b · BlockTokens + j) · cols + k]</c>,
    /// zeros past the last token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TransposeTokens(float* x, int tokens, int cols, float* xT)
    {
        int width = BlockTokens;
        for (int b = 0; b < tokens; b += width)
        {
            float* block = xT + ((long)b * cols);
            int n = Math.Min(width, tokens - b);
            for (int j = 0; j < width; j++)
            {
                float* src = x + ((long)(b + j) * cols);
                if (j < n)
                {
                    for (int k = 0; k < cols; k++)
                    {
                        block[((long)k * width) + j] = src[k];
                    }
                }
                else
                {
                    for (int k = 0; k < cols; k++)
                    {
                        block[((long)k * width) + j] = 0;
                    }
                }
            }
        }
    }

    /// <summary>The activations transposed by <see cref="TransposeTokens"/> into a pooled array (return it with
    /// <see cref="Return"/>), or null where <see cref="IsSupported"/> is false.</summary>
    internal static float[]? RentTransposed(float* x, int tokens, int cols)
    {
        if (!IsSupported)
        {
            return null;
        }

        float[] xT = System.Buffers.ArrayPool<float>.Shared.Rent(checked((int)TransposedFloats(tokens, cols)));
        fixed (float* p = xT)
        {
            TransposeTokens(x, tokens, cols, p);
        }

        return xT;
    }

    /// <summary>Returns an array from <see cref="RentTransposed"/> (null is ignored).</summary>
    internal static void Return(float[]? xT)
    {
        if (xT is not null)
        {
            System.Buffers.ArrayPool<float>.Shared.Return(xT);
        }
    }

    /// <summary><see cref="Multiply"/> on <paramref name="xT"/> from <see cref="RentTransposed"/>, or where that is null
    /// (no AVX2) the dot-product GEMM on <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Gemm(float* w, int rows, int cols, float* x, float* xT, int tokens, float* y, long yStride)
    {
        if (xT != null)
        {
            Multiply(w, rows, cols, xT, tokens, y, yStride);
        }
        else
        {
            DenseKernels.Gemm(w, rows, cols, x, tokens, y, yStride);
        }
    }

    /// <summary>
    /// <c>y[t · yStride + r] = Σ_k w[r · cols + k] · x[t][k]</c> for <paramref name="rows"/> float rows at
    /// <paramref name="w"/> and <paramref name="tokens"/> tokens transposed by <see cref="TransposeTokens"/>.
    /// Requires <see cref="IsSupported"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Multiply(float* w, int rows, int cols, float* xT, int tokens, float* y, long yStride)
    {
        int width = BlockTokens, tileRows = Rows;
        float* results = stackalloc float[12 * 32];
        for (int b = 0; b < tokens; b += width)
        {
            int n = Math.Min(width, tokens - b);
            float* block = xT + ((long)b * cols);
            for (int r0 = 0; r0 < rows; r0 += tileRows)
            {
                int count = Math.Min(tileRows, rows - r0);
                for (int k0 = 0; k0 < cols; k0 += KBlock)
                {
                    int kb = Math.Min(KBlock, cols - k0);
                    if (KernelIsa.UseAvx512)
                    {
                        Tile512(w + ((long)r0 * cols) + k0, count, cols, kb, block + ((long)k0 * width), results, k0 > 0);
                    }
                    else
                    {
                        Tile256(w + ((long)r0 * cols) + k0, count, cols, kb, block + ((long)k0 * width), results, k0 > 0);
                    }
                }

                for (int r = 0; r < count; r++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        y[((b + j) * yStride) + r0 + r] = results[(r * width) + j];
                    }
                }
            }
        }
    }

    /// <summary>Scalar reference of <see cref="Multiply"/> (the same FMA chain per output).</summary>
    internal static void MultiplyReference(float* w, int rows, int cols, float* x, int tokens, float* y, long yStride)
    {
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < rows; r++)
            {
                float total = 0;
                for (int k0 = 0; k0 < cols; k0 += KBlock)
                {
                    float acc = 0;
                    for (int k = k0; k < Math.Min(cols, k0 + KBlock); k++)
                    {
                        acc = MathF.FusedMultiplyAdd(w[((long)r * cols) + k], x[((long)t * cols) + k], acc);
                    }

                    total = k0 == 0 ? acc : total + acc;
                }

                y[(t * yStride) + r] = total;
            }
        }
    }

    /// <summary>12 rows (rows past <paramref name="count"/> alias the last one, <paramref name="cols"/> apart) × 32 tokens
    /// over <paramref name="kb"/> inputs; the sums go to <paramref name="results"/> (row-major, 32 per row), added to what
    /// is there when <paramref name="add"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512(float* w, int count, int cols, int kb, float* xT, float* results, bool add)
    {
        float* w0 = w, w1 = w + (Math.Min(1, count - 1) * (long)cols), w2 = w + (Math.Min(2, count - 1) * (long)cols), w3 = w + (Math.Min(3, count - 1) * (long)cols);
        float* w4 = w + (Math.Min(4, count - 1) * (long)cols), w5 = w + (Math.Min(5, count - 1) * (long)cols), w6 = w + (Math.Min(6, count - 1) * (long)cols), w7 = w + (Math.Min(7, count - 1) * (long)cols);
        float* w8 = w + (Math.Min(8, count - 1) * (long)cols), w9 = w + (Math.Min(9, count - 1) * (long)cols), w10 = w + (Math.Min(10, count - 1) * (long)cols), w11 = w + (Math.Min(11, count - 1) * (long)cols);
        Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default, b3 = default;
        Vector512<float> a4 = default, b4 = default, a5 = default, b5 = default, a6 = default, b6 = default, a7 = default, b7 = default;
        Vector512<float> a8 = default, b8 = default, a9 = default, b9 = default, a10 = default, b10 = default, a11 = default, b11 = default;
        for (int k = 0; k < kb; k++, xT += 32)
        {
            Vector512<float> xa = Vector512.Load(xT), xb = Vector512.Load(xT + 16);
            Vector512<float> v = Vector512.Create(w0[k]);
            a0 = Avx512F.FusedMultiplyAdd(v, xa, a0); b0 = Avx512F.FusedMultiplyAdd(v, xb, b0);
            v = Vector512.Create(w1[k]);
            a1 = Avx512F.FusedMultiplyAdd(v, xa, a1); b1 = Avx512F.FusedMultiplyAdd(v, xb, b1);
            v = Vector512.Create(w2[k]);
            a2 = Avx512F.FusedMultiplyAdd(v, xa, a2); b2 = Avx512F.FusedMultiplyAdd(v, xb, b2);
            v = Vector512.Create(w3[k]);
            a3 = Avx512F.FusedMultiplyAdd(v, xa, a3); b3 = Avx512F.FusedMultiplyAdd(v, xb, b3);
            v = Vector512.Create(w4[k]);
            a4 = Avx512F.FusedMultiplyAdd(v, xa, a4); b4 = Avx512F.FusedMultiplyAdd(v, xb, b4);
            v = Vector512.Create(w5[k]);
            a5 = Avx512F.FusedMultiplyAdd(v, xa, a5); b5 = Avx512F.FusedMultiplyAdd(v, xb, b5);
            v = Vector512.Create(w6[k]);
            a6 = Avx512F.FusedMultiplyAdd(v, xa, a6); b6 = Avx512F.FusedMultiplyAdd(v, xb, b6);
            v = Vector512.Create(w7[k]);
            a7 = Avx512F.FusedMultiplyAdd(v, xa, a7); b7 = Avx512F.FusedMultiplyAdd(v, xb, b7);
            v = Vector512.Create(w8[k]);
            a8 = Avx512F.FusedMultiplyAdd(v, xa, a8); b8 = Avx512F.FusedMultiplyAdd(v, xb, b8);
            v = Vector512.Create(w9[k]);
            a9 = Avx512F.FusedMultiplyAdd(v, xa, a9); b9 = Avx512F.FusedMultiplyAdd(v, xb, b9);
            v = Vector512.Create(w10[k]);
            a10 = Avx512F.FusedMultiplyAdd(v, xa, a10); b10 = Avx512F.FusedMultiplyAdd(v, xb, b10);
            v = Vector512.Create(w11[k]);
            a11 = Avx512F.FusedMultiplyAdd(v, xa, a11); b11 = Avx512F.FusedMultiplyAdd(v, xb, b11);
        }

        Put512(a0, results, add); Put512(b0, results + 16, add); Put512(a1, results + 32, add); Put512(b1, results + 48, add);
        Put512(a2, results + 64, add); Put512(b2, results + 80, add); Put512(a3, results + 96, add); Put512(b3, results + 112, add);
        Put512(a4, results + 128, add); Put512(b4, results + 144, add); Put512(a5, results + 160, add); Put512(b5, results + 176, add);
        Put512(a6, results + 192, add); Put512(b6, results + 208, add); Put512(a7, results + 224, add); Put512(b7, results + 240, add);
        Put512(a8, results + 256, add); Put512(b8, results + 272, add); Put512(a9, results + 288, add); Put512(b9, results + 304, add);
        Put512(a10, results + 320, add); Put512(b10, results + 336, add); Put512(a11, results + 352, add); Put512(b11, results + 368, add);
    }

    /// <summary><see cref="Tile512"/> for 6 rows × 16 tokens (results 16 per row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256(float* w, int count, int cols, int kb, float* xT, float* results, bool add)
    {
        float* w0 = w, w1 = w + (Math.Min(1, count - 1) * (long)cols), w2 = w + (Math.Min(2, count - 1) * (long)cols);
        float* w3 = w + (Math.Min(3, count - 1) * (long)cols), w4 = w + (Math.Min(4, count - 1) * (long)cols), w5 = w + (Math.Min(5, count - 1) * (long)cols);
        Vector256<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default;
        Vector256<float> a3 = default, b3 = default, a4 = default, b4 = default, a5 = default, b5 = default;
        for (int k = 0; k < kb; k++, xT += 16)
        {
            Vector256<float> xa = Avx.LoadVector256(xT), xb = Avx.LoadVector256(xT + 8);
            Vector256<float> v = Vector256.Create(w0[k]);
            a0 = Fma.MultiplyAdd(v, xa, a0); b0 = Fma.MultiplyAdd(v, xb, b0);
            v = Vector256.Create(w1[k]);
            a1 = Fma.MultiplyAdd(v, xa, a1); b1 = Fma.MultiplyAdd(v, xb, b1);
            v = Vector256.Create(w2[k]);
            a2 = Fma.MultiplyAdd(v, xa, a2); b2 = Fma.MultiplyAdd(v, xb, b2);
            v = Vector256.Create(w3[k]);
            a3 = Fma.MultiplyAdd(v, xa, a3); b3 = Fma.MultiplyAdd(v, xb, b3);
            v = Vector256.Create(w4[k]);
            a4 = Fma.MultiplyAdd(v, xa, a4); b4 = Fma.MultiplyAdd(v, xb, b4);
            v = Vector256.Create(w5[k]);
            a5 = Fma.MultiplyAdd(v, xa, a5); b5 = Fma.MultiplyAdd(v, xb, b5);
        }

        Put256(a0, results, add); Put256(b0, results + 8, add); Put256(a1, results + 16, add); Put256(b1, results + 24, add);
        Put256(a2, results + 32, add); Put256(b2, results + 40, add); Put256(a3, results + 48, add); Put256(b3, results + 56, add);
        Put256(a4, results + 64, add); Put256(b4, results + 72, add); Put256(a5, results + 80, add); Put256(b5, results + 88, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put512(Vector512<float> sum, float* p, bool add) => Vector512.Store(add ? Vector512.Load(p) + sum : sum, p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put256(Vector256<float> sum, float* p, bool add) => Avx.Store(p, add ? Avx.LoadVector256(p) + sum : sum);

    /// <summary>Rows dequantized to F32 at a time by <see cref="MultiplyDequantized{TRows}"/> (48 rows × 2048 floats =
    /// 384 KiB, in L2; a multiple of <see cref="Rows"/>).</summary>
    private const int DequantRows = 48;

    /// <summary><see cref="MultiplyDequantized{TRows}"/> on the activations rounded to int8 per 32 as
    /// <see cref="ActivationQuantizer"/> rounds them: the prefill of a weight whose decode kernel multiplies int8
    /// activations, so MatMul rows equal MatVec up to summation order.</summary>
    internal static void MultiplyDequantizedRounded<TRows>(TRows source, int rows, int cols, float* x, int tokens, float* y)
        where TRows : struct, IDequantizedRows
    {
        float[] rounded = System.Buffers.ArrayPool<float>.Shared.Rent(tokens * cols);
        try
        {
            fixed (float* pr = rounded)
            {
                ActivationQuantizer.Round(x, tokens, cols, pr);
                MultiplyDequantized(source, rows, cols, pr, tokens, y);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(rounded);
        }
    }

    /// <summary>
    /// A multi-token product for weights without an integer prefill kernel: the rows are dequantized
    /// <see cref="DequantRows"/> at a time (once each, however many tokens) and multiplied by the F32 activations with
    /// <see cref="Gemm"/>; one token takes one dequantized row and one dot product at a time.
    /// </summary>
    internal static void MultiplyDequantized<TRows>(TRows source, int rows, int cols, float* x, int tokens, float* y)
        where TRows : struct, IDequantizedRows
    {
        float[]? transposed = tokens > 1 ? RentTransposed(x, tokens, cols) : null;
        try
        {
            fixed (float* pxt = transposed)
            {
                var job = new DequantizedJob<TRows> { Source = source, Rows = rows, Cols = cols, X = x, XT = pxt, Y = y, Tokens = tokens };
                LinearDriver.Run(ref job, &DequantizedSlice<TRows>, rows, cols, tokens, grain: 4);
            }
        }
        finally
        {
            Return(transposed);
        }
    }

    private struct DequantizedJob<TRows>
        where TRows : struct, IDequantizedRows
    {
        public TRows Source;
        public int Rows;
        public int Cols;
        public float* X;
        public float* XT;
        public float* Y;
        public int Tokens;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DequantizedSlice<TRows>(ref DequantizedJob<TRows> job, int start, int end)
        where TRows : struct, IDequantizedRows
    {
        int cols = job.Cols;
        int chunk = job.Tokens == 1 ? 1 : DequantRows;
        float* tile = ThreadScratch.Floats((long)chunk * cols);
        for (int r0 = start; r0 < end; r0 += chunk)
        {
            int count = Math.Min(chunk, end - r0);
            for (int i = 0; i < count; i++)
            {
                job.Source.DequantizeRow(r0 + i, tile + ((long)i * cols));
            }

            Gemm(tile, count, cols, job.X, job.XT, job.Tokens, job.Y + r0, job.Rows);
        }
    }
}

/// <summary>A weight whose rows dequantize one at a time (for <see cref="DenseGemm.MultiplyDequantized{TRows}"/>).</summary>
internal unsafe interface IDequantizedRows
{
    /// <summary>Writes row <paramref name="row"/> as Cols floats.</summary>
    void DequantizeRow(int row, float* destination);
}
