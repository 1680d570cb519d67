using QuantSharp.Quantization;

namespace QuantSharp.Kernels;

/// <summary>Dot products of packed NF4/FP4 rows (<see cref="FourBitFloatScheme"/>) with float activations padded to
/// whole 32-chunks: the scalar reference, a one-row AVX2 kernel (tail rows), 4-row decode tiles in AVX-512 and AVX2,
/// and a 4-row × 4-token AVX-512 prefill tile.</summary>
/// <remarks>Activations stay float here (the code-book values are not on an integer grid, and NF4 stays float-exact).
/// AVX-512: the 16-entry code book is one register and one <c>vpermps</c> looks up 16 codes (it reads only the low 4
/// bits of each dword index). AVX2: two 8-entry <c>vpermps</c> and a blend on bit 3 per 8 codes. Either way one
/// multiply by the block's absmax per 64 inputs; the 4-row tiles share each activation load between the rows.</remarks>
[SkipLocalsInit]
internal static unsafe class FourBitFloatKernels
{
    /// <summary>Scalar reference: <c>Σ_b absmax[b] · Σ_{c∈b} code[q(c)] · x[c]</c> over <paramref name="chunks"/> chunks.</summary>
    internal static float DotReference(byte* packed, float* absmax, int chunks, float* x, float* code)
    {
        float acc = 0;
        for (int c0 = 0; c0 < chunks; c0 += 2)
        {
            float block = 0;
            for (int c = c0; c < Math.Min(chunks, c0 + 2); c++)
            {
                byte* p = packed + (c * 16);
                float* xc = x + (c * 32);
                for (int j = 0; j < 16; j++)
                {
                    block += code[p[j] & 0xF] * xc[j];
                    block += code[p[j] >> 4] * xc[j + 16];
                }
            }

            acc += absmax[c0 / 2] * block;
        }

        return acc;
    }

    /// <summary>Same as <see cref="DotReference"/>, AVX2 when available.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(byte* packed, float* absmax, int chunks, float* x, float* code)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            return DotReference(packed, absmax, chunks, x, code);
        }

        Vector256<float> lut0 = Avx.LoadVector256(code);
        Vector256<float> lut1 = Avx.LoadVector256(code + 8);
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        Vector256<float> acc = Vector256<float>.Zero;
        for (int c0 = 0; c0 < chunks; c0 += 2)
        {
            Vector256<float> b0 = Vector256<float>.Zero, b1 = Vector256<float>.Zero;
            int end = Math.Min(chunks, c0 + 2);
            for (int c = c0; c < end; c++)
            {
                Vector128<byte> raw = Sse2.LoadVector128(packed + (c * 16));
                Vector256<byte> codes = Vector256.Create(raw, Sse2.ShiftRightLogical(raw.AsUInt16(), 4).AsByte()) & low;
                float* xc = x + (c * 32);
                Vector128<byte> lo = codes.GetLower(), hi = codes.GetUpper();
                b0 = Fma.MultiplyAdd(Lookup(lo, lut0, lut1), Avx.LoadVector256(xc), b0);
                b1 = Fma.MultiplyAdd(Lookup(Sse2.ShiftRightLogical128BitLane(lo, 8), lut0, lut1), Avx.LoadVector256(xc + 8), b1);
                b0 = Fma.MultiplyAdd(Lookup(hi, lut0, lut1), Avx.LoadVector256(xc + 16), b0);
                b1 = Fma.MultiplyAdd(Lookup(Sse2.ShiftRightLogical128BitLane(hi, 8), lut0, lut1), Avx.LoadVector256(xc + 24), b1);
            }

            acc = Fma.MultiplyAdd(b0 + b1, Vector256.Create(absmax[c0 / 2]), acc);
        }

        return Vector256.Sum(acc);
    }

    /// <summary>
    /// Dot products of four consecutive rows (<paramref name="rowBytes"/> apart) with the same activations, as
    /// <see cref="DotReference"/> computes them per row: the AVX-512 path where <see cref="KernelIsa.UseAvx512"/>, else
    /// AVX2, else the scalar reference. <paramref name="absmax"/> holds the four rows' block scales,
    /// <paramref name="blocks"/> apart.
    /// </summary>
    internal static void Dot4(byte* packed, int rowBytes, float* absmax, int blocks, int chunks, float* x, float* code, float* result)
    {
        if (KernelIsa.UseAvx512)
        {
            Dot4Avx512(packed, rowBytes, absmax, blocks, chunks, x, code, result);
        }
        else if (KernelIsa.UseAvx2)
        {
            Dot4Avx2(packed, rowBytes, absmax, blocks, chunks, x, code, result);
        }
        else
        {
            for (int i = 0; i < 4; i++)
            {
                result[i] = DotReference(packed + ((long)i * rowBytes), absmax + ((long)i * blocks), chunks, x, code);
            }
        }
    }

    /// <summary><see cref="Dot4"/> with 512-bit vectors: each 16-byte chunk zero-extended to 16 dwords is its own
    /// low-nibble index vector (<c>vpermps</c> reads only the low 4 bits of each dword, so the whole 16-entry code book
    /// is one register and one lookup), and shifted right by 4 the high-nibble one; the 32 values line up with
    /// <c>x[32c .. 32c+31]</c> with no reordering. One FMA by the row's absmax per 64-block. Requires AVX-512F.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4Avx512(byte* packed, int rowBytes, float* absmax, int blocks, int chunks, float* x, float* code, float* result)
    {
        Vector512<float> lut = Vector512.Load(code);
        Vector512<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* p0 = packed, p1 = packed + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes;
        float* a0 = absmax, a1 = absmax + blocks, a2 = a1 + blocks, a3 = a2 + blocks;
        int full = chunks / 2;
        for (int b = 0; b < full; b++)
        {
            float* xb = x + (b * 64);
            Vector512<float> x0 = Vector512.Load(xb), x1 = Vector512.Load(xb + 16), x2 = Vector512.Load(xb + 32), x3 = Vector512.Load(xb + 48);
            int o = b * 32;
            acc0 = Avx512F.FusedMultiplyAdd(Block512(p0 + o, lut, x0, x1, x2, x3), Vector512.Create(a0[b]), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Block512(p1 + o, lut, x0, x1, x2, x3), Vector512.Create(a1[b]), acc1);
            acc2 = Avx512F.FusedMultiplyAdd(Block512(p2 + o, lut, x0, x1, x2, x3), Vector512.Create(a2[b]), acc2);
            acc3 = Avx512F.FusedMultiplyAdd(Block512(p3 + o, lut, x0, x1, x2, x3), Vector512.Create(a3[b]), acc3);
        }

        if ((chunks & 1) != 0)
        {
            // A last block of one chunk (cols ≤ 32 past the last whole 64-block).
            float* xb = x + (full * 64);
            Vector512<float> x0 = Vector512.Load(xb), x1 = Vector512.Load(xb + 16);
            int o = full * 32;
            acc0 = Avx512F.FusedMultiplyAdd(Chunk512(p0 + o, lut, x0, x1), Vector512.Create(a0[full]), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Chunk512(p1 + o, lut, x0, x1), Vector512.Create(a1[full]), acc1);
            acc2 = Avx512F.FusedMultiplyAdd(Chunk512(p2 + o, lut, x0, x1), Vector512.Create(a2[full]), acc2);
            acc3 = Avx512F.FusedMultiplyAdd(Chunk512(p3 + o, lut, x0, x1), Vector512.Create(a3[full]), acc3);
        }

        result[0] = Vector512.Sum(acc0);
        result[1] = Vector512.Sum(acc1);
        result[2] = Vector512.Sum(acc2);
        result[3] = Vector512.Sum(acc3);
    }

    /// <summary>One row of <see cref="Dot4Avx512"/> (decode reads one sequential stream per thread, which the hardware
    /// prefetcher follows better from DRAM than four interleaved row streams); same operations per row and block, two
    /// accumulators (even and odd blocks), so the sum order differs from the 4-row tile. Requires AVX-512F.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotRowAvx512(byte* packed, float* absmax, int chunks, float* x, float* code)
    {
        Vector512<float> lut = Vector512.Load(code);
        Vector512<float> acc0 = default, acc1 = default;
        int full = chunks / 2, b = 0;
        for (; b + 2 <= full; b += 2)
        {
            float* xb = x + (b * 64);
            acc0 = Avx512F.FusedMultiplyAdd(Block512(packed + (b * 32), lut, Vector512.Load(xb), Vector512.Load(xb + 16), Vector512.Load(xb + 32), Vector512.Load(xb + 48)), Vector512.Create(absmax[b]), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Block512(packed + (b * 32) + 32, lut, Vector512.Load(xb + 64), Vector512.Load(xb + 80), Vector512.Load(xb + 96), Vector512.Load(xb + 112)), Vector512.Create(absmax[b + 1]), acc1);
        }

        if (b < full)
        {
            float* xb = x + (b * 64);
            acc0 = Avx512F.FusedMultiplyAdd(Block512(packed + (b * 32), lut, Vector512.Load(xb), Vector512.Load(xb + 16), Vector512.Load(xb + 32), Vector512.Load(xb + 48)), Vector512.Create(absmax[b]), acc0);
        }

        if ((chunks & 1) != 0)
        {
            float* xb = x + (full * 64);
            acc1 = Avx512F.FusedMultiplyAdd(Chunk512(packed + (full * 32), lut, Vector512.Load(xb), Vector512.Load(xb + 16)), Vector512.Create(absmax[full]), acc1);
        }

        return Vector512.Sum(acc0 + acc1);
    }

    /// <summary>Σ code[q]·x over one 64-block (two chunks) of one row, in 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Block512(byte* p, Vector512<float> lut, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3)
    {
        Vector512<int> i0 = Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p));
        Vector512<int> i1 = Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p + 16));
        Vector512<float> s0 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(lut, Avx512F.ShiftRightLogical(i0, 4)), x1, Avx512F.PermuteVar16x32(lut, i0) * x0);
        Vector512<float> s1 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(lut, Avx512F.ShiftRightLogical(i1, 4)), x3, Avx512F.PermuteVar16x32(lut, i1) * x2);
        return s0 + s1;
    }

    /// <summary>Σ code[q]·x over one chunk of one row, in 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Chunk512(byte* p, Vector512<float> lut, Vector512<float> x0, Vector512<float> x1)
    {
        Vector512<int> i0 = Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p));
        return Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(lut, Avx512F.ShiftRightLogical(i0, 4)), x1, Avx512F.PermuteVar16x32(lut, i0) * x0);
    }

    /// <summary>
    /// Four rows (<paramref name="rowBytes"/> apart) against four tokens (<paramref name="xStride"/> floats apart), for
    /// prefill: each chunk's code-book values are looked up once for four tokens, and each activation load serves four
    /// rows from L1. Per (row, token) it performs the float operations of <see cref="Dot4Avx512"/> in the same order, so
    /// the results are bit-identical to decoding each token alone. Writes <c>y[t · yStride + i]</c> for row i, token t.
    /// Requires AVX-512F.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4Tokens4Avx512(byte* packed, int rowBytes, float* absmax, int blocks, int chunks, float* x, int xStride, float* code, float* y, int yStride)
    {
        Vector512<float> lut = Vector512.Load(code);
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        float* x0 = x, x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        for (int c = 0; c < chunks; c += 2)
        {
            bool pair = c + 1 < chunks;
            int b = c / 2, o = c * 32;
            for (int i = 0; i < 4; i++)
            {
                byte* p = packed + ((long)i * rowBytes) + (c * 16);
                Vector512<float> s = Vector512.Create(absmax[((long)i * blocks) + b]);
                Vector512<int> i0 = Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p));
                Vector512<float> w0 = Avx512F.PermuteVar16x32(lut, i0), w1 = Avx512F.PermuteVar16x32(lut, Avx512F.ShiftRightLogical(i0, 4));
                Vector512<float> v0, v1, v2, v3;
                if (pair)
                {
                    Vector512<int> i1 = Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p + 16));
                    Vector512<float> w2 = Avx512F.PermuteVar16x32(lut, i1), w3 = Avx512F.PermuteVar16x32(lut, Avx512F.ShiftRightLogical(i1, 4));
                    v0 = BlockValues(w0, w1, w2, w3, x0 + o);
                    v1 = BlockValues(w0, w1, w2, w3, x1 + o);
                    v2 = BlockValues(w0, w1, w2, w3, x2 + o);
                    v3 = BlockValues(w0, w1, w2, w3, x3 + o);
                }
                else
                {
                    v0 = ChunkValues(w0, w1, x0 + o);
                    v1 = ChunkValues(w0, w1, x1 + o);
                    v2 = ChunkValues(w0, w1, x2 + o);
                    v3 = ChunkValues(w0, w1, x3 + o);
                }

                switch (i)
                {
                    case 0:
                        a00 = Avx512F.FusedMultiplyAdd(v0, s, a00); a01 = Avx512F.FusedMultiplyAdd(v1, s, a01);
                        a02 = Avx512F.FusedMultiplyAdd(v2, s, a02); a03 = Avx512F.FusedMultiplyAdd(v3, s, a03);
                        break;
                    case 1:
                        a10 = Avx512F.FusedMultiplyAdd(v0, s, a10); a11 = Avx512F.FusedMultiplyAdd(v1, s, a11);
                        a12 = Avx512F.FusedMultiplyAdd(v2, s, a12); a13 = Avx512F.FusedMultiplyAdd(v3, s, a13);
                        break;
                    case 2:
                        a20 = Avx512F.FusedMultiplyAdd(v0, s, a20); a21 = Avx512F.FusedMultiplyAdd(v1, s, a21);
                        a22 = Avx512F.FusedMultiplyAdd(v2, s, a22); a23 = Avx512F.FusedMultiplyAdd(v3, s, a23);
                        break;
                    default:
                        a30 = Avx512F.FusedMultiplyAdd(v0, s, a30); a31 = Avx512F.FusedMultiplyAdd(v1, s, a31);
                        a32 = Avx512F.FusedMultiplyAdd(v2, s, a32); a33 = Avx512F.FusedMultiplyAdd(v3, s, a33);
                        break;
                }
            }
        }

        Store4(y, a00, a10, a20, a30);
        Store4(y + yStride, a01, a11, a21, a31);
        Store4(y + (2L * yStride), a02, a12, a22, a32);
        Store4(y + (3L * yStride), a03, a13, a23, a33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* y, Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, Vector512<float> r3)
    {
        y[0] = Vector512.Sum(r0);
        y[1] = Vector512.Sum(r1);
        y[2] = Vector512.Sum(r2);
        y[3] = Vector512.Sum(r3);
    }

    /// <summary><see cref="Block512"/> on code-book values already looked up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> BlockValues(Vector512<float> w0, Vector512<float> w1, Vector512<float> w2, Vector512<float> w3, float* x)
    {
        Vector512<float> s0 = Avx512F.FusedMultiplyAdd(w1, Vector512.Load(x + 16), w0 * Vector512.Load(x));
        Vector512<float> s1 = Avx512F.FusedMultiplyAdd(w3, Vector512.Load(x + 48), w2 * Vector512.Load(x + 32));
        return s0 + s1;
    }

    /// <summary><see cref="Chunk512"/> on code-book values already looked up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ChunkValues(Vector512<float> w0, Vector512<float> w1, float* x)
        => Avx512F.FusedMultiplyAdd(w1, Vector512.Load(x + 16), w0 * Vector512.Load(x));

    /// <summary><see cref="Dot4"/> with 256-bit vectors: eight codes at a time zero-extended to dwords, looked up with
    /// two <c>vpermps</c> (8 entries each) and a blend on bit 3; activation loads shared by the four rows. Requires
    /// AVX2 and FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4Avx2(byte* packed, int rowBytes, float* absmax, int blocks, int chunks, float* x, float* code, float* result)
    {
        Vector256<float> lut0 = Avx.LoadVector256(code);
        Vector256<float> lut1 = Avx.LoadVector256(code + 8);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* p0 = packed, p1 = packed + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes;
        float* a0 = absmax, a1 = absmax + blocks, a2 = a1 + blocks, a3 = a2 + blocks;
        for (int b = 0, c = 0; c < chunks; b++)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            int end = Math.Min(chunks, c + 2);
            for (; c < end; c++)
            {
                float* xc = x + (c * 32);
                Vector256<float> x0 = Avx.LoadVector256(xc), x1 = Avx.LoadVector256(xc + 8), x2 = Avx.LoadVector256(xc + 16), x3 = Avx.LoadVector256(xc + 24);
                int o = c * 16;
                s0 = Chunk256(p0 + o, lut0, lut1, x0, x1, x2, x3, s0);
                s1 = Chunk256(p1 + o, lut0, lut1, x0, x1, x2, x3, s1);
                s2 = Chunk256(p2 + o, lut0, lut1, x0, x1, x2, x3, s2);
                s3 = Chunk256(p3 + o, lut0, lut1, x0, x1, x2, x3, s3);
            }

            acc0 = Fma.MultiplyAdd(s0, Vector256.Create(a0[b]), acc0);
            acc1 = Fma.MultiplyAdd(s1, Vector256.Create(a1[b]), acc1);
            acc2 = Fma.MultiplyAdd(s2, Vector256.Create(a2[b]), acc2);
            acc3 = Fma.MultiplyAdd(s3, Vector256.Create(a3[b]), acc3);
        }

        result[0] = Vector256.Sum(acc0);
        result[1] = Vector256.Sum(acc1);
        result[2] = Vector256.Sum(acc2);
        result[3] = Vector256.Sum(acc3);
    }

    /// <summary>
    /// One row against four tokens (<paramref name="xStride"/> floats apart) with 256-bit vectors, for prefill without
    /// AVX-512: each group of eight codes is looked up once (two <c>vpermps</c> and a blend) for four tokens. Per
    /// (row, token) it performs the float operations of <see cref="Dot4Avx2"/> in the same order, so the results are
    /// bit-identical to decoding each token alone. Writes <c>y[t · yStride]</c> for t = 0..3. Requires AVX2 and FMA.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DotTokens4Avx2(byte* packed, float* absmax, int chunks, float* x, int xStride, float* code, float* y, int yStride)
    {
        Vector256<float> lut0 = Avx.LoadVector256(code);
        Vector256<float> lut1 = Avx.LoadVector256(code + 8);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        float* x0 = x, x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        for (int b = 0, c = 0; c < chunks; b++)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            int end = Math.Min(chunks, c + 2);
            for (; c < end; c++)
            {
                Vector256<int> lo = Avx2.ConvertToVector256Int32(packed + (c * 16));
                Vector256<int> hi = Avx2.ConvertToVector256Int32(packed + (c * 16) + 8);
                int o = c * 32;
                Vector256<float> w = Lookup256(lo, lut0, lut1);
                s0 = Fma.MultiplyAdd(w, Avx.LoadVector256(x0 + o), s0);
                s1 = Fma.MultiplyAdd(w, Avx.LoadVector256(x1 + o), s1);
                s2 = Fma.MultiplyAdd(w, Avx.LoadVector256(x2 + o), s2);
                s3 = Fma.MultiplyAdd(w, Avx.LoadVector256(x3 + o), s3);
                w = Lookup256(hi, lut0, lut1);
                s0 = Fma.MultiplyAdd(w, Avx.LoadVector256(x0 + o + 8), s0);
                s1 = Fma.MultiplyAdd(w, Avx.LoadVector256(x1 + o + 8), s1);
                s2 = Fma.MultiplyAdd(w, Avx.LoadVector256(x2 + o + 8), s2);
                s3 = Fma.MultiplyAdd(w, Avx.LoadVector256(x3 + o + 8), s3);
                w = Lookup256(Avx2.ShiftRightLogical(lo, 4), lut0, lut1);
                s0 = Fma.MultiplyAdd(w, Avx.LoadVector256(x0 + o + 16), s0);
                s1 = Fma.MultiplyAdd(w, Avx.LoadVector256(x1 + o + 16), s1);
                s2 = Fma.MultiplyAdd(w, Avx.LoadVector256(x2 + o + 16), s2);
                s3 = Fma.MultiplyAdd(w, Avx.LoadVector256(x3 + o + 16), s3);
                w = Lookup256(Avx2.ShiftRightLogical(hi, 4), lut0, lut1);
                s0 = Fma.MultiplyAdd(w, Avx.LoadVector256(x0 + o + 24), s0);
                s1 = Fma.MultiplyAdd(w, Avx.LoadVector256(x1 + o + 24), s1);
                s2 = Fma.MultiplyAdd(w, Avx.LoadVector256(x2 + o + 24), s2);
                s3 = Fma.MultiplyAdd(w, Avx.LoadVector256(x3 + o + 24), s3);
            }

            Vector256<float> a = Vector256.Create(absmax[b]);
            acc0 = Fma.MultiplyAdd(s0, a, acc0);
            acc1 = Fma.MultiplyAdd(s1, a, acc1);
            acc2 = Fma.MultiplyAdd(s2, a, acc2);
            acc3 = Fma.MultiplyAdd(s3, a, acc3);
        }

        y[0] = Vector256.Sum(acc0);
        y[yStride] = Vector256.Sum(acc1);
        y[2 * yStride] = Vector256.Sum(acc2);
        y[3 * yStride] = Vector256.Sum(acc3);
    }

    /// <summary><paramref name="sum"/> + Σ code[q]·x over one chunk of one row, in 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Chunk256(byte* p, Vector256<float> lut0, Vector256<float> lut1, Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> x3, Vector256<float> sum)
    {
        Vector256<int> lo = Avx2.ConvertToVector256Int32(p);
        Vector256<int> hi = Avx2.ConvertToVector256Int32(p + 8);
        // One FMA chain per row: the four rows of the tile are independent chains, enough to cover the FMA latency.
        sum = Fma.MultiplyAdd(Lookup256(lo, lut0, lut1), x0, sum);
        sum = Fma.MultiplyAdd(Lookup256(hi, lut0, lut1), x1, sum);
        sum = Fma.MultiplyAdd(Lookup256(Avx2.ShiftRightLogical(lo, 4), lut0, lut1), x2, sum);
        return Fma.MultiplyAdd(Lookup256(Avx2.ShiftRightLogical(hi, 4), lut0, lut1), x3, sum);
    }

    /// <summary>Code-book values of eight 4-bit codes held in the low bits of each dword (bits above 3 ignored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lookup256(Vector256<int> index, Vector256<float> lut0, Vector256<float> lut1)
    {
        Vector256<float> a = Avx2.PermuteVar8x32(lut0, index);
        Vector256<float> b = Avx2.PermuteVar8x32(lut1, index);
        // Bit 3 of the code moved to the sign bit selects the upper half of the code book.
        return Avx.BlendVariable(a, b, Avx2.ShiftLeftLogical(index, 28).AsSingle());
    }

    /// <summary>Code-book values of the 8 codes in the low 8 bytes of <paramref name="codes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lookup(Vector128<byte> codes, Vector256<float> lut0, Vector256<float> lut1)
    {
        Vector256<int> index = Avx2.ConvertToVector256Int32(codes);
        Vector256<float> a = Avx2.PermuteVar8x32(lut0, index);
        Vector256<float> b = Avx2.PermuteVar8x32(lut1, index);
        // Bit 3 of the code moved to the sign bit selects the upper half of the code book.
        return Avx.BlendVariable(a, b, Avx2.ShiftLeftLogical(index, 28).AsSingle());
    }
}
