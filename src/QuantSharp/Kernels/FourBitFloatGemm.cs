using QuantSharp.Quantization;

namespace QuantSharp.Kernels;

/// <summary>
/// Prefill (several tokens × an NF4/FP4 weight, <see cref="FourBitFloatScheme"/>) as a float GEMM on a dequantized,
/// transposed tile: the weights of <c>R</c> rows are dequantized once per call into <c>Wᵀ[k][r]</c> (R floats per
/// input k, the exact F32 values <c>absmax · code[q]</c> of <see cref="FourBitFloatScheme.DequantizeRow(ReadOnlySpan{byte}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/>), and every
/// token block then multiplies it with one vector load per k and one broadcast FMA per token and vector of rows.
/// </summary>
/// <remarks>
/// <para>Shapes: AVX-512 <c>R = 32</c> (two zmm per k) × 8 tokens = 16 accumulators; AVX2 <c>R = 16</c> (two ymm)
/// × 6 tokens = 12 accumulators. Per k that is 2 loads, T broadcasts and 2·T FMAs, so the FMA ports, not the loads,
/// bound it. The tile is made <see cref="KBlock"/> inputs at a time (32 KB with AVX-512) so that it stays in L1 while
/// all token blocks pass over it; the partial sums carry from one k-block to the next through <c>y</c>.</para>
/// <para>Dequantizing needs the codes of R rows at the same input k side by side: each 16-byte chunk of 4 (AVX2) or
/// 16 (AVX-512) rows is transposed in registers so that one dword vector holds the same 4 code bytes (8 codes) of every
/// row; shifting it by 0, 4, … 28 bits gives index vectors for <c>vpermps</c>, which reads only the low bits.</para>
/// <para>The sums run in another order than <see cref="FourBitFloatKernels.DotReference"/> (which multiplies each
/// 64-block's sum by its absmax), so results agree with it up to float rounding, not bit for bit.</para>
/// </remarks>
[SkipLocalsInit]
internal static unsafe class FourBitFloatGemm
{
    /// <summary>Rows per tile with AVX-512.</summary>
    internal const int RowsAvx512 = 32;

    /// <summary>Rows per tile with AVX2.</summary>
    internal const int RowsAvx2 = 16;

    /// <summary>Inputs dequantized per pass (a multiple of 32): 32 rows × 256 floats = 32 KB, within L1.</summary>
    internal const int KBlock = 256;


    /// <summary>Floats of work space <see cref="MultiplyTile"/> needs for a tile of <paramref name="tileRows"/> rows.</summary>
    internal static long WorkFloats(int tileRows, int blocks) => ((long)tileRows * KBlock) + (2L * tileRows * blocks);

    /// <summary>
    /// <c>y[t · yStride + r] = Σ_k W[r][k] · x[t · xStride + k]</c> for the <paramref name="tileRows"/> rows at
    /// <paramref name="packed"/> (<paramref name="rowBytes"/> apart, block scales <paramref name="absmax"/> row-major,
    /// <paramref name="blocks"/> per row) and <paramref name="tokens"/> tokens of activations padded to
    /// <c>32 · chunks</c> with zeros. <paramref name="tileRows"/> is <see cref="RowsAvx512"/> (requires AVX-512F) or
    /// <see cref="RowsAvx2"/> (requires AVX2 and FMA). <paramref name="work"/>: <see cref="WorkFloats"/>, 64-byte aligned.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MultiplyTile(int tileRows, byte* packed, int rowBytes, float* absmax, int blocks, int chunks, float* code, float* x, long xStride, int tokens, float* y, long yStride, float* work)
    {
        float* wt = work;
        float* absT = work + ((long)tileRows * KBlock);
        TransposeAbsmax(absmax, blocks, tileRows, absT);
        int padded = chunks * 32;
        for (int k0 = 0; k0 < padded; k0 += KBlock)
        {
            int kb = Math.Min(KBlock, padded - k0);
            bool accumulate = k0 > 0;
            PrefetchNext(packed, rowBytes, tileRows, k0 + kb < padded ? (k0 + kb) / 2 : -1);
            if (tileRows == RowsAvx512)
            {
                DequantizeAvx512(packed, rowBytes, absT, k0 / 32, (k0 + kb) / 32, code, wt);
                for (int t = 0; t < tokens; t += 8)
                {
                    int n = Math.Min(8, tokens - t);
                    float* xt = x + ((long)t * xStride) + k0, yt = y + ((long)t * yStride);
                    if (n > 4)
                    {
                        TokensAvx512<WideTokenBlock>(wt, kb, xt, xStride, n, yt, yStride, accumulate);
                    }
                    else
                    {
                        TokensAvx512<NarrowTokenBlock>(wt, kb, xt, xStride, n, yt, yStride, accumulate);
                    }
                }
            }
            else
            {
                DequantizeAvx2(packed, rowBytes, absT, k0 / 32, (k0 + kb) / 32, code, wt);
                for (int t = 0; t < tokens; t += 6)
                {
                    int n = Math.Min(6, tokens - t);
                    float* xt = x + ((long)t * xStride) + k0, yt = y + ((long)t * yStride);
                    if (n > 3)
                    {
                        TokensAvx2<WideTokenBlock>(wt, kb, xt, xStride, n, yt, yStride, accumulate);
                    }
                    else
                    {
                        TokensAvx2<NarrowTokenBlock>(wt, kb, xt, xStride, n, yt, yStride, accumulate);
                    }
                }
            }
        }
    }

    /// <summary>Asks for the codes the next k-block will dequantize (bytes <paramref name="offset"/> … +KBlock/2 of
    /// each row, or with <paramref name="offset"/> −1 the first k-block of the next tile's rows) to be brought into L2
    /// while the token blocks run: the rows are far apart, so the hardware prefetcher does not see them as a stream.
    /// Prefetches never fault, so one past the last tile is harmless.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchNext(byte* packed, int rowBytes, int tileRows, int offset)
    {
        byte* p = offset < 0 ? packed + ((long)tileRows * rowBytes) : packed + offset;
        for (int r = 0; r < tileRows; r++, p += rowBytes)
        {
            for (int b = 0; b < KBlock / 2; b += 64)
            {
                Sse.Prefetch1(p + b);
            }
        }
    }

    /// <summary>Scalar reference of <see cref="MultiplyTile"/>: dequantizes each row as
    /// <see cref="FourBitFloatScheme.DequantizeRow(ReadOnlySpan{byte}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/> does and sums <c>W[r][k] · x[k]</c> in k order.</summary>
    internal static void MultiplyTileReference(int tileRows, byte* packed, int rowBytes, float* absmax, int blocks, int chunks, float* code, float* x, long xStride, int tokens, float* y, long yStride)
    {
        for (int r = 0; r < tileRows; r++)
        {
            byte* p = packed + ((long)r * rowBytes);
            for (int t = 0; t < tokens; t++)
            {
                float* xt = x + (t * xStride);
                float acc = 0;
                for (int k = 0; k < chunks * 32; k++)
                {
                    int c = k / 32, j = k % 32;
                    int q = j < 16 ? p[(c * 16) + j] & 0xF : p[(c * 16) + j - 16] >> 4;
                    acc = MathF.FusedMultiplyAdd(absmax[((long)r * blocks) + (k / FourBitFloatScheme.Block)] * code[q], xt[k], acc);
                }

                y[(t * yStride) + r] = acc;
            }
        }
    }

    /// <summary>Block scales of the tile's rows as <c>destination[b · rows + r]</c>, so one vector load gives a block's
    /// scale for consecutive rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TransposeAbsmax(float* absmax, int blocks, int rows, float* destination)
    {
        for (int r = 0; r < rows; r++)
        {
            float* a = absmax + ((long)r * blocks);
            for (int b = 0; b < blocks; b++)
            {
                destination[((long)b * rows) + r] = a[b];
            }
        }
    }

    /// <summary>Scalar reference of the dequantizers: <c>wt[(k − 32·c0) · rows + r] = absT[(k/64) · rows + r] · code[q(r, k)]</c>
    /// for chunks <paramref name="c0"/> ≤ k/32 &lt; <paramref name="c1"/>.</summary>
    internal static void DequantizeReference(byte* packed, int rowBytes, int rows, float* absT, int c0, int c1, float* code, float* wt)
    {
        for (int r = 0; r < rows; r++)
        {
            byte* p = packed + ((long)r * rowBytes);
            for (int k = c0 * 32; k < c1 * 32; k++)
            {
                int c = k / 32, j = k % 32;
                int q = j < 16 ? p[(c * 16) + j] & 0xF : p[(c * 16) + j - 16] >> 4;
                wt[((long)(k - (c0 * 32)) * rows) + r] = absT[((long)(k / FourBitFloatScheme.Block) * rows) + r] * code[q];
            }
        }
    }

    /// <summary>
    /// Dequantizes chunks [<paramref name="c0"/>, <paramref name="c1"/>) of 32 rows into <c>wt</c> (32 floats per k).
    /// Per 16 rows and chunk, the rows' 16-byte chunks are transposed with two rounds of <c>vpermt2d</c> into four
    /// vectors <c>d_m</c> (lane r = bytes 4m … 4m+3 of row r), whose 8 nibbles are the codes of inputs
    /// 4m+b (low nibble of byte b) and 16+4m+b (high nibble). Requires AVX-512F.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DequantizeAvx512(byte* packed, int rowBytes, float* absT, int c0, int c1, float* code, float* wt)
    {
        const int R = RowsAvx512;
        Vector512<float> lut = Vector512.Load(code);
        Vector512<int> pickA = Vector512.Create(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
        Vector512<int> pickB = Vector512.Create(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
        Vector512<int> lower = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        Vector512<int> upper = Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        for (int h = 0; h < 2; h++)
        {
            byte* q = packed + ((long)h * 16 * rowBytes);
            float* w = wt + (h * 16);
            for (int c = c0; c < c1; c++, w += 32 * R)
            {
                byte* p = q + ((long)c * 16);
                // z_i: rows 4i … 4i+3, one row's chunk per 128-bit lane (dword 4·row + m).
                Vector512<int> z0 = Rows4(p, rowBytes), z1 = Rows4(p + (4L * rowBytes), rowBytes);
                Vector512<int> z2 = Rows4(p + (8L * rowBytes), rowBytes), z3 = Rows4(p + (12L * rowBytes), rowBytes);
                // Lanes 0–7: dword m of rows 0–7 (resp. 8–15), lanes 8–15: dword m+1.
                Vector512<int> p01 = Avx512F.PermuteVar16x32x2(z0, pickA, z1), p23 = Avx512F.PermuteVar16x32x2(z0, pickB, z1);
                Vector512<int> q01 = Avx512F.PermuteVar16x32x2(z2, pickA, z3), q23 = Avx512F.PermuteVar16x32x2(z2, pickB, z3);
                Vector512<float> s = Vector512.Load(absT + ((long)(c / 2) * R) + (h * 16));
                Nibbles512(Avx512F.PermuteVar16x32x2(p01, lower, q01), lut, s, w);
                Nibbles512(Avx512F.PermuteVar16x32x2(p01, upper, q01), lut, s, w + (4 * R));
                Nibbles512(Avx512F.PermuteVar16x32x2(p23, lower, q23), lut, s, w + (8 * R));
                Nibbles512(Avx512F.PermuteVar16x32x2(p23, upper, q23), lut, s, w + (12 * R));
            }
        }
    }

    /// <summary>The 16-byte chunks at <paramref name="p"/> of four rows, one per 128-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Rows4(byte* p, long rowBytes)
        => Vector512.Create(
            Vector256.Create(Vector128.Load((int*)p), Vector128.Load((int*)(p + rowBytes))),
            Vector256.Create(Vector128.Load((int*)(p + (2 * rowBytes))), Vector128.Load((int*)(p + (3 * rowBytes)))));

    /// <summary>Stores the 8 codes per lane of <paramref name="d"/> (bytes 4m … 4m+3 of 16 rows) as values times
    /// <paramref name="s"/>: input 4m+b at <c>w + b·R</c> and input 16+4m+b at <c>w + (16+b)·R</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Nibbles512(Vector512<int> d, Vector512<float> lut, Vector512<float> s, float* w)
    {
        const int R = RowsAvx512;
        Pair512(d, lut, s, w);
        Pair512(Avx512F.ShiftRightLogical(d, 8), lut, s, w + R);
        Pair512(Avx512F.ShiftRightLogical(d, 16), lut, s, w + (2 * R));
        Pair512(Avx512F.ShiftRightLogical(d, 24), lut, s, w + (3 * R));
    }

    /// <summary>Stores the values of the low nibble of each lane's low byte at <paramref name="w"/> and of its high
    /// nibble 16 inputs later.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair512(Vector512<int> d, Vector512<float> lut, Vector512<float> s, float* w)
    {
        Vector512.Store(Avx512F.PermuteVar16x32(lut, d) * s, w);
        Vector512.Store(Avx512F.PermuteVar16x32(lut, Avx512F.ShiftRightLogical(d, 4)) * s, w + (16 * RowsAvx512));
    }

    /// <summary>
    /// Dequantizes chunks [<paramref name="c0"/>, <paramref name="c1"/>) of 16 rows into <c>wt</c> (16 floats per k):
    /// per 8 rows and chunk a 4 × 4 dword transpose (rows r and r+4 in the two 128-bit lanes) gives the vectors
    /// <c>d_m</c>; lookups with two <c>vpermps</c> and a blend on bit 3. Requires AVX2 and FMA.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DequantizeAvx2(byte* packed, int rowBytes, float* absT, int c0, int c1, float* code, float* wt)
    {
        const int R = RowsAvx2;
        Vector256<float> lut0 = Avx.LoadVector256(code), lut1 = Avx.LoadVector256(code + 8);
        for (int h = 0; h < 2; h++)
        {
            byte* q = packed + ((long)h * 8 * rowBytes);
            float* w = wt + (h * 8);
            for (int c = c0; c < c1; c++, w += 32 * R)
            {
                byte* p = q + ((long)c * 16);
                Vector256<int> y0 = Rows2(p, 4L * rowBytes), y1 = Rows2(p + rowBytes, 4L * rowBytes);
                Vector256<int> y2 = Rows2(p + (2L * rowBytes), 4L * rowBytes), y3 = Rows2(p + (3L * rowBytes), 4L * rowBytes);
                Vector256<int> t0 = Avx2.UnpackLow(y0, y1), t1 = Avx2.UnpackHigh(y0, y1);
                Vector256<int> t2 = Avx2.UnpackLow(y2, y3), t3 = Avx2.UnpackHigh(y2, y3);
                Vector256<float> s = Avx.LoadVector256(absT + ((long)(c / 2) * R) + (h * 8));
                Nibbles256(Avx2.UnpackLow(t0.AsInt64(), t2.AsInt64()).AsInt32(), lut0, lut1, s, w);
                Nibbles256(Avx2.UnpackHigh(t0.AsInt64(), t2.AsInt64()).AsInt32(), lut0, lut1, s, w + (4 * R));
                Nibbles256(Avx2.UnpackLow(t1.AsInt64(), t3.AsInt64()).AsInt32(), lut0, lut1, s, w + (8 * R));
                Nibbles256(Avx2.UnpackHigh(t1.AsInt64(), t3.AsInt64()).AsInt32(), lut0, lut1, s, w + (12 * R));
            }
        }
    }

    /// <summary>The 16-byte chunks at <paramref name="p"/> and <paramref name="p"/> + <paramref name="stride"/>, one per 128-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Rows2(byte* p, long stride)
        => Vector256.Create(Vector128.Load((int*)p), Vector128.Load((int*)(p + stride)));

    /// <summary><see cref="Nibbles512"/> for 8 rows with 256-bit vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Nibbles256(Vector256<int> d, Vector256<float> lut0, Vector256<float> lut1, Vector256<float> s, float* w)
    {
        const int R = RowsAvx2;
        Pair256(d, lut0, lut1, s, w);
        Pair256(Avx2.ShiftRightLogical(d, 8), lut0, lut1, s, w + R);
        Pair256(Avx2.ShiftRightLogical(d, 16), lut0, lut1, s, w + (2 * R));
        Pair256(Avx2.ShiftRightLogical(d, 24), lut0, lut1, s, w + (3 * R));
    }

    /// <summary><see cref="Pair512"/> for 8 rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair256(Vector256<int> d, Vector256<float> lut0, Vector256<float> lut1, Vector256<float> s, float* w)
    {
        Avx.Store(w, Lookup256(d, lut0, lut1) * s);
        Avx.Store(w + (16 * RowsAvx2), Lookup256(Avx2.ShiftRightLogical(d, 4), lut0, lut1) * s);
    }

    /// <summary>Code-book values of the low 4 bits of each dword (bit 3, moved to the sign, picks the upper half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lookup256(Vector256<int> index, Vector256<float> lut0, Vector256<float> lut1)
        => Avx.BlendVariable(Avx2.PermuteVar8x32(lut0, index), Avx2.PermuteVar8x32(lut1, index), Avx2.ShiftLeftLogical(index, 28).AsSingle());

    /// <summary>
    /// <c>y[t·ys + r] (+)= Σ_{k &lt; kb} wt[k·32 + r] · x[t·xs + k]</c> for r &lt; 32 and t &lt; <paramref name="n"/> ≤ 8
    /// (4 when <typeparamref name="TBlock"/> is narrow: the remainder of a prompt), added to y when
    /// <paramref name="accumulate"/>. Tokens past <paramref name="n"/> alias the last one: they compute and store the
    /// same values again, which keeps the loop free of branches. Requires AVX-512F.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TokensAvx512<TBlock>(float* wt, int kb, float* x, long xs, int n, float* y, long ys, bool accumulate)
        where TBlock : struct, ITokenBlock
    {
        float* x0 = x, x1 = x + (Math.Min(1, n - 1) * xs), x2 = x + (Math.Min(2, n - 1) * xs), x3 = x + (Math.Min(3, n - 1) * xs);
        float* y0 = y, y1 = y + (Math.Min(1, n - 1) * ys), y2 = y + (Math.Min(2, n - 1) * ys), y3 = y + (Math.Min(3, n - 1) * ys);
        float* x4 = x3, x5 = x3, x6 = x3, x7 = x3, y4 = y3, y5 = y3, y6 = y3, y7 = y3;
        if (TBlock.Wide)
        {
            x4 = x + (Math.Min(4, n - 1) * xs); x5 = x + (Math.Min(5, n - 1) * xs); x6 = x + (Math.Min(6, n - 1) * xs); x7 = x + (Math.Min(7, n - 1) * xs);
            y4 = y + (Math.Min(4, n - 1) * ys); y5 = y + (Math.Min(5, n - 1) * ys); y6 = y + (Math.Min(6, n - 1) * ys); y7 = y + (Math.Min(7, n - 1) * ys);
        }

        Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        Vector512<float> a40 = default, a41 = default, a50 = default, a51 = default, a60 = default, a61 = default, a70 = default, a71 = default;
        if (accumulate)
        {
            a00 = Vector512.Load(y0); a01 = Vector512.Load(y0 + 16); a10 = Vector512.Load(y1); a11 = Vector512.Load(y1 + 16);
            a20 = Vector512.Load(y2); a21 = Vector512.Load(y2 + 16); a30 = Vector512.Load(y3); a31 = Vector512.Load(y3 + 16);
            if (TBlock.Wide)
            {
                a40 = Vector512.Load(y4); a41 = Vector512.Load(y4 + 16); a50 = Vector512.Load(y5); a51 = Vector512.Load(y5 + 16);
                a60 = Vector512.Load(y6); a61 = Vector512.Load(y6 + 16); a70 = Vector512.Load(y7); a71 = Vector512.Load(y7 + 16);
            }
        }

        for (int k = 0; k < kb; k++, wt += 32)
        {
            Vector512<float> w0 = Vector512.Load(wt), w1 = Vector512.Load(wt + 16);
            Vector512<float> b = Vector512.Create(x0[k]);
            a00 = Avx512F.FusedMultiplyAdd(w0, b, a00); a01 = Avx512F.FusedMultiplyAdd(w1, b, a01);
            b = Vector512.Create(x1[k]);
            a10 = Avx512F.FusedMultiplyAdd(w0, b, a10); a11 = Avx512F.FusedMultiplyAdd(w1, b, a11);
            b = Vector512.Create(x2[k]);
            a20 = Avx512F.FusedMultiplyAdd(w0, b, a20); a21 = Avx512F.FusedMultiplyAdd(w1, b, a21);
            b = Vector512.Create(x3[k]);
            a30 = Avx512F.FusedMultiplyAdd(w0, b, a30); a31 = Avx512F.FusedMultiplyAdd(w1, b, a31);
            if (TBlock.Wide)
            {
                b = Vector512.Create(x4[k]);
                a40 = Avx512F.FusedMultiplyAdd(w0, b, a40); a41 = Avx512F.FusedMultiplyAdd(w1, b, a41);
                b = Vector512.Create(x5[k]);
                a50 = Avx512F.FusedMultiplyAdd(w0, b, a50); a51 = Avx512F.FusedMultiplyAdd(w1, b, a51);
                b = Vector512.Create(x6[k]);
                a60 = Avx512F.FusedMultiplyAdd(w0, b, a60); a61 = Avx512F.FusedMultiplyAdd(w1, b, a61);
                b = Vector512.Create(x7[k]);
                a70 = Avx512F.FusedMultiplyAdd(w0, b, a70); a71 = Avx512F.FusedMultiplyAdd(w1, b, a71);
            }
        }

        Vector512.Store(a00, y0); Vector512.Store(a01, y0 + 16); Vector512.Store(a10, y1); Vector512.Store(a11, y1 + 16);
        Vector512.Store(a20, y2); Vector512.Store(a21, y2 + 16); Vector512.Store(a30, y3); Vector512.Store(a31, y3 + 16);
        if (TBlock.Wide)
        {
            Vector512.Store(a40, y4); Vector512.Store(a41, y4 + 16); Vector512.Store(a50, y5); Vector512.Store(a51, y5 + 16);
            Vector512.Store(a60, y6); Vector512.Store(a61, y6 + 16); Vector512.Store(a70, y7); Vector512.Store(a71, y7 + 16);
        }
    }

    /// <summary><see cref="TokensAvx512{TBlock}"/> for 16 rows (two ymm) and up to 6 tokens (3 when
    /// <typeparamref name="TBlock"/> is narrow). Requires AVX2 and FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TokensAvx2<TBlock>(float* wt, int kb, float* x, long xs, int n, float* y, long ys, bool accumulate)
        where TBlock : struct, ITokenBlock
    {
        float* x0 = x, x1 = x + (Math.Min(1, n - 1) * xs), x2 = x + (Math.Min(2, n - 1) * xs);
        float* y0 = y, y1 = y + (Math.Min(1, n - 1) * ys), y2 = y + (Math.Min(2, n - 1) * ys);
        float* x3 = x2, x4 = x2, x5 = x2, y3 = y2, y4 = y2, y5 = y2;
        if (TBlock.Wide)
        {
            x3 = x + (Math.Min(3, n - 1) * xs); x4 = x + (Math.Min(4, n - 1) * xs); x5 = x + (Math.Min(5, n - 1) * xs);
            y3 = y + (Math.Min(3, n - 1) * ys); y4 = y + (Math.Min(4, n - 1) * ys); y5 = y + (Math.Min(5, n - 1) * ys);
        }

        Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default;
        Vector256<float> a30 = default, a31 = default, a40 = default, a41 = default, a50 = default, a51 = default;
        if (accumulate)
        {
            a00 = Avx.LoadVector256(y0); a01 = Avx.LoadVector256(y0 + 8); a10 = Avx.LoadVector256(y1); a11 = Avx.LoadVector256(y1 + 8);
            a20 = Avx.LoadVector256(y2); a21 = Avx.LoadVector256(y2 + 8);
            if (TBlock.Wide)
            {
                a30 = Avx.LoadVector256(y3); a31 = Avx.LoadVector256(y3 + 8);
                a40 = Avx.LoadVector256(y4); a41 = Avx.LoadVector256(y4 + 8); a50 = Avx.LoadVector256(y5); a51 = Avx.LoadVector256(y5 + 8);
            }
        }

        for (int k = 0; k < kb; k++, wt += 16)
        {
            Vector256<float> w0 = Avx.LoadVector256(wt), w1 = Avx.LoadVector256(wt + 8);
            Vector256<float> b = Vector256.Create(x0[k]);
            a00 = Fma.MultiplyAdd(w0, b, a00); a01 = Fma.MultiplyAdd(w1, b, a01);
            b = Vector256.Create(x1[k]);
            a10 = Fma.MultiplyAdd(w0, b, a10); a11 = Fma.MultiplyAdd(w1, b, a11);
            b = Vector256.Create(x2[k]);
            a20 = Fma.MultiplyAdd(w0, b, a20); a21 = Fma.MultiplyAdd(w1, b, a21);
            if (TBlock.Wide)
            {
                b = Vector256.Create(x3[k]);
                a30 = Fma.MultiplyAdd(w0, b, a30); a31 = Fma.MultiplyAdd(w1, b, a31);
                b = Vector256.Create(x4[k]);
                a40 = Fma.MultiplyAdd(w0, b, a40); a41 = Fma.MultiplyAdd(w1, b, a41);
                b = Vector256.Create(x5[k]);
                a50 = Fma.MultiplyAdd(w0, b, a50); a51 = Fma.MultiplyAdd(w1, b, a51);
            }
        }

        Avx.Store(y0, a00); Avx.Store(y0 + 8, a01); Avx.Store(y1, a10); Avx.Store(y1 + 8, a11);
        Avx.Store(y2, a20); Avx.Store(y2 + 8, a21);
        if (TBlock.Wide)
        {
            Avx.Store(y3, a30); Avx.Store(y3 + 8, a31);
            Avx.Store(y4, a40); Avx.Store(y4 + 8, a41); Avx.Store(y5, a50); Avx.Store(y5 + 8, a51);
        }
    }
}

/// <summary>The token count of a register-blocked GEMM micro-kernel, fixed per instantiation so the JIT drops the
/// unused half: wide (the full block) or narrow (half of it, for the remainder of a prompt).</summary>
internal interface ITokenBlock
{
    /// <summary>True for the full block.</summary>
    static abstract bool Wide { get; }
}

/// <summary>The full token block.</summary>
internal readonly struct WideTokenBlock : ITokenBlock
{
    public static bool Wide => true;
}

/// <summary>Half the token block.</summary>
internal readonly struct NarrowTokenBlock : ITokenBlock
{
    public static bool Wide => false;
}
