namespace QuantSharp.Kernels;

/// <summary>
/// Prefill (several tokens × a weight) for 4-bit codes as a register-blocked GEMM on an 8-row interleaved tile.
/// </summary>
/// <remarks>
/// <para>Tile layout, made once per 8 rows and reused by every token: per 32-weight chunk <c>c</c>, 256 code bytes in
/// which the 32-byte group <c>k</c> (0–7) holds codes <c>4k … 4k+3</c> of rows 0–7, four bytes per row. One
/// <c>vpdpbusd</c> of such a group against the token's four activation bytes broadcast to every lane adds those four
/// products to each row's lane, so after the eight groups one register holds the chunk's integer dot for all eight
/// rows, and the float work per chunk and token is one convert and two FMAs for eight rows (instead of per row).
/// Each group load is shared by four tokens.</para>
/// <para>Per chunk the tile also holds two factor vectors over the 8 rows: <c>A</c> (the weight scale) and
/// <c>B</c> (the offset term), so that row r's output is
/// <c>Σ_c d_tc · (A_rc · dot_rtc − B_rc · Σx_tc)</c> with <c>d_tc</c> and <c>Σx_tc</c> the token's activation
/// scale and integer sum for the chunk (<see cref="ActivationQuantizer"/>): int4 <c>A = s, B = s·z</c> (z = 8 when
/// symmetric, and GGUF Q4_0 through its split layout); Q4_K <c>A = d·sc, B = dmin·m</c>.</para>
/// </remarks>
[SkipLocalsInit]
internal static unsafe class InterleavedPrefill
{
    /// <summary>Rows per tile.</summary>
    internal const int Rows = 8;

    /// <summary>Bytes of a tile of <paramref name="chunks"/> chunks: 256 code bytes and 2 × 8 factors per chunk.</summary>
    internal static nuint TileBytes(int chunks) => (nuint)chunks * (256 + 64);

    /// <summary>Floats of work space <see cref="UnpackInt4"/> needs.</summary>
    internal static long UnpackWorkFloats(int groups) => 2L * Rows * groups;

    /// <summary>The code bytes of chunk <paramref name="c"/> in a tile.</summary>
    internal static byte* Codes(byte* tile, int c) => tile + ((long)c * 256);

    /// <summary>Factor vector A of chunk <paramref name="c"/> (8 floats).</summary>
    internal static float* FactorA(byte* tile, int chunks, int c) => (float*)(tile + ((long)chunks * 256)) + ((long)c * 16);

    /// <summary>Factor vector B of chunk <paramref name="c"/> (8 floats, right after A).</summary>
    internal static float* FactorB(byte* tile, int chunks, int c) => FactorA(tile, chunks, c) + 8;

    /// <summary>
    /// Unpacks 8 rows of QuantSharp int4 (<see cref="Int4Linear"/> layout: per chunk 16 bytes, low nibbles = weights
    /// 0–15, high = 16–31; F16 group scales; U8 zero points or null for symmetric) into a tile. The 8 rows' codes of a
    /// chunk are eight 8-dword vectors, transposed in registers into the interleaved order; the factors come from the
    /// rows' scales and zeros converted to floats once (<paramref name="work"/>: 2 · 8 · groups floats) and gathered
    /// per chunk. Requires AVX2 and FMA.
    /// </summary>
    internal static void UnpackInt4(byte* packed, long rowBytes, Half* scales, byte* zeros, int groups, int groupChunks, int chunks, byte* tile, float* work)
    {
        float* s32 = work, z32 = work + (Rows * groups);
        int n = Rows * groups, i = 0;
        for (; i + 8 <= n; i += 8)
        {
            Avx.Store(s32 + i, Int4Kernels.HalvesToSingles(Sse2.LoadVector128((short*)(scales + i))));
            Avx.Store(z32 + i, zeros == null ? Vector256.Create(8f) : Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(zeros + i)));
        }

        for (; i < n; i++)
        {
            s32[i] = GgufKernels.HalfToSingle(scales[i]);
            z32[i] = zeros == null ? 8 : zeros[i];
        }

        Vector256<uint> shifts = Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4);
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        Vector256<int> rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * groups;
        for (int c = 0; c < chunks; c++)
        {
            long o = (long)c * 16;
            Vector256<int> r0 = Row(packed + o, shifts, low), r1 = Row(packed + rowBytes + o, shifts, low);
            Vector256<int> r2 = Row(packed + (2 * rowBytes) + o, shifts, low), r3 = Row(packed + (3 * rowBytes) + o, shifts, low);
            Vector256<int> r4 = Row(packed + (4 * rowBytes) + o, shifts, low), r5 = Row(packed + (5 * rowBytes) + o, shifts, low);
            Vector256<int> r6 = Row(packed + (6 * rowBytes) + o, shifts, low), r7 = Row(packed + (7 * rowBytes) + o, shifts, low);
            Transpose8(r0, r1, r2, r3, r4, r5, r6, r7, Codes(tile, c));
            int g = c / groupChunks;
            Vector256<float> a = Avx2.GatherVector256(s32 + g, rowOffsets, 4);
            Avx.Store(FactorA(tile, chunks, c), a);
            Avx.Store(FactorB(tile, chunks, c), a * Avx2.GatherVector256(z32 + g, rowOffsets, 4));
        }
    }

    /// <summary>
    /// Unpacks 8 rows of GGUF Q4_K (<paramref name="rowBytes"/> apart; per 256-weight super-block F16 d and dmin, 12
    /// bytes of 6-bit sub-block scales and mins, 128 bytes of nibbles: bytes 32j…32j+31 hold sub-block 2j in the low
    /// nibbles and 2j+1 in the high ones; value <c>d·sc·q − dmin·m</c>) into a tile: A = d·sc, B = dmin·m. Requires AVX2.
    /// </summary>
    internal static void UnpackQ4_K(byte* rows, long rowBytes, int superBlocks, byte* tile)
    {
        int chunks = superBlocks * 8;
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        float* a = stackalloc float[Rows * 8];
        float* b = stackalloc float[Rows * 8];
        float* rowA = stackalloc float[8];
        float* rowB = stackalloc float[8];
        for (int i = 0; i < superBlocks; i++)
        {
            long sb = (long)i * 144;
            for (int r = 0; r < Rows; r++)
            {
                byte* block = rows + (r * rowBytes) + sb;
                GgufKernels.ScaleMinK4(Sse2.LoadVector128(block), out Vector256<float> scales, out Vector256<float> mins);
                Avx.Store(rowA, scales * Vector256.Create(GgufKernels.HalfToSingle(*(Half*)block)));
                Avx.Store(rowB, mins * Vector256.Create(GgufKernels.HalfToSingle(*(Half*)(block + 2))));
                for (int j = 0; j < 8; j++)
                {
                    a[(j * Rows) + r] = rowA[j];
                    b[(j * Rows) + r] = rowB[j];
                }
            }

            for (int j = 0; j < 4; j++)
            {
                long o = sb + 16 + (32 * j);
                Vector256<byte> q0 = Avx.LoadVector256(rows + o), q1 = Avx.LoadVector256(rows + rowBytes + o);
                Vector256<byte> q2 = Avx.LoadVector256(rows + (2 * rowBytes) + o), q3 = Avx.LoadVector256(rows + (3 * rowBytes) + o);
                Vector256<byte> q4 = Avx.LoadVector256(rows + (4 * rowBytes) + o), q5 = Avx.LoadVector256(rows + (5 * rowBytes) + o);
                Vector256<byte> q6 = Avx.LoadVector256(rows + (6 * rowBytes) + o), q7 = Avx.LoadVector256(rows + (7 * rowBytes) + o);
                int c = (8 * i) + (2 * j);
                Transpose8(
                    (q0 & low).AsInt32(), (q1 & low).AsInt32(), (q2 & low).AsInt32(), (q3 & low).AsInt32(),
                    (q4 & low).AsInt32(), (q5 & low).AsInt32(), (q6 & low).AsInt32(), (q7 & low).AsInt32(),
                    Codes(tile, c));
                Transpose8(
                    High(q0, low), High(q1, low), High(q2, low), High(q3, low), High(q4, low), High(q5, low), High(q6, low), High(q7, low),
                    Codes(tile, c + 1));
            }

            for (int j = 0; j < 8; j++)
            {
                Avx.Store(FactorA(tile, chunks, (8 * i) + j), Avx.LoadVector256(a + (j * Rows)));
                Avx.Store(FactorB(tile, chunks, (8 * i) + j), Avx.LoadVector256(b + (j * Rows)));
            }
        }
    }

    /// <summary>
    /// Unpacks 8 rows of QuantSharp ternary (<see cref="TernaryLinear"/> layout: per chunk 8 bytes, weight
    /// <c>j + 8k</c> in bits 2k…2k+1 of byte j as code 0–2 for −1/0/+1; F32 scales, chunk c of row r using
    /// <c>scales[r · scaleRowStride + c / groupChunks]</c>) into a tile: A = B = the scale (value = s · (code − 1)).
    /// Requires AVX2.
    /// </summary>
    internal static void UnpackTernary(byte* packed, long rowBytes, float* scales, long scaleRowStride, int groupChunks, int chunks, byte* tile)
    {
        Vector256<ulong> shifts = Vector256.Create(0ul, 2, 4, 6);
        Vector256<byte> mask = Vector256.Create((byte)3);
        Vector256<int> rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * (int)scaleRowStride;
        for (int c = 0; c < chunks; c++)
        {
            long o = (long)c * 8;
            Transpose8(
                Ternary(packed + o, shifts, mask), Ternary(packed + rowBytes + o, shifts, mask), Ternary(packed + (2 * rowBytes) + o, shifts, mask), Ternary(packed + (3 * rowBytes) + o, shifts, mask),
                Ternary(packed + (4 * rowBytes) + o, shifts, mask), Ternary(packed + (5 * rowBytes) + o, shifts, mask), Ternary(packed + (6 * rowBytes) + o, shifts, mask), Ternary(packed + (7 * rowBytes) + o, shifts, mask),
                Codes(tile, c));
            Vector256<float> a = Avx2.GatherVector256(scales + (c / groupChunks), rowOffsets, 4);
            Avx.Store(FactorA(tile, chunks, c), a);
            Avx.Store(FactorB(tile, chunks, c), a);
        }
    }

    /// <summary>One ternary chunk (8 bytes) as 32 codes in weight order: the 8 bytes in every 64-bit lane, lane k
    /// shifted right by 2k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Ternary(byte* p, Vector256<ulong> shifts, Vector256<byte> mask)
        => (Avx2.ShiftRightLogicalVariable(Vector256.Create(Unsafe.ReadUnaligned<ulong>(p)), shifts).AsByte() & mask).AsInt32();

    /// <summary>
    /// Unpacks 8 rows of GGUF TQ2_0 (<paramref name="rowBytes"/> apart; per 256-weight super-block 64 bytes of 2-bit
    /// codes then an F16 d: the 32-weight chunk 4h + n is bits 2n…2n+1 of bytes 32h…32h+31, value <c>d · (code − 1)</c>)
    /// into a tile: A = B = d. Requires AVX2.
    /// </summary>
    internal static void UnpackTQ2_0(byte* rows, long rowBytes, int superBlocks, byte* tile)
    {
        int chunks = superBlocks * 8;
        Vector256<byte> mask = Vector256.Create((byte)3);
        Vector256<int> rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * (int)rowBytes;
        for (int i = 0; i < superBlocks; i++)
        {
            long sb = (long)i * 66;
            Vector256<float> d = GgufKernels.BlockScales8Before(rows + sb + 66, rowOffsets);
            for (int h = 0; h < 2; h++)
            {
                long o = sb + (32 * h);
                Vector256<ushort> q0 = Avx.LoadVector256(rows + o).AsUInt16(), q1 = Avx.LoadVector256(rows + rowBytes + o).AsUInt16();
                Vector256<ushort> q2 = Avx.LoadVector256(rows + (2 * rowBytes) + o).AsUInt16(), q3 = Avx.LoadVector256(rows + (3 * rowBytes) + o).AsUInt16();
                Vector256<ushort> q4 = Avx.LoadVector256(rows + (4 * rowBytes) + o).AsUInt16(), q5 = Avx.LoadVector256(rows + (5 * rowBytes) + o).AsUInt16();
                Vector256<ushort> q6 = Avx.LoadVector256(rows + (6 * rowBytes) + o).AsUInt16(), q7 = Avx.LoadVector256(rows + (7 * rowBytes) + o).AsUInt16();
                for (byte n = 0; n < 8; n += 2)
                {
                    int c = (8 * i) + (4 * h) + (n / 2);
                    Transpose8(
                        Bits2(q0, n, mask), Bits2(q1, n, mask), Bits2(q2, n, mask), Bits2(q3, n, mask),
                        Bits2(q4, n, mask), Bits2(q5, n, mask), Bits2(q6, n, mask), Bits2(q7, n, mask),
                        Codes(tile, c));
                    Avx.Store(FactorA(tile, chunks, c), d);
                    Avx.Store(FactorB(tile, chunks, c), d);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Bits2(Vector256<ushort> q, byte shift, Vector256<byte> mask)
        => (Avx2.ShiftRightLogical(q, Vector128.CreateScalar((ushort)shift)).AsByte() & mask).AsInt32();

    /// <summary>
    /// Unpacks 8 rows of signed 8-bit weights (QuantSharp int8: <paramref name="rowStride"/> bytes apart, one F32 scale
    /// per row) into a tile as unsigned codes <c>w + 128</c>: A = s, B = 128·s. Only for AVX-VNNI, whose
    /// <c>vpdpbusd</c> does not saturate (the <c>maddubs</c> fallback would, for codes above 127).
    /// </summary>
    internal static void UnpackInt8(sbyte* rows, long rowStride, float* scales, int chunks, byte* tile)
    {
        Vector256<byte> bias = Vector256.Create((byte)0x80);
        Vector256<float> a = Avx.LoadVector256(scales);
        Vector256<float> b = a * Vector256.Create(128f);
        for (int c = 0; c < chunks; c++)
        {
            long o = (long)c * 32;
            Transpose8(
                Signed(rows + o, bias), Signed(rows + rowStride + o, bias), Signed(rows + (2 * rowStride) + o, bias), Signed(rows + (3 * rowStride) + o, bias),
                Signed(rows + (4 * rowStride) + o, bias), Signed(rows + (5 * rowStride) + o, bias), Signed(rows + (6 * rowStride) + o, bias), Signed(rows + (7 * rowStride) + o, bias),
                Codes(tile, c));
            Avx.Store(FactorA(tile, chunks, c), a);
            Avx.Store(FactorB(tile, chunks, c), b);
        }
    }

    /// <summary>
    /// Unpacks 8 rows of GGUF Q8_0 (<paramref name="rowBytes"/> apart; per block an F16 d and 32 signed bytes) into a
    /// tile as unsigned codes <c>q + 128</c>: A = d, B = 128·d. Only for AVX-VNNI (see <see cref="UnpackInt8"/>).
    /// </summary>
    internal static void UnpackQ8_0(byte* rows, long rowBytes, int blocks, byte* tile)
    {
        Vector256<byte> bias = Vector256.Create((byte)0x80);
        Vector256<int> rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * (int)rowBytes;
        for (int c = 0; c < blocks; c++)
        {
            long o = ((long)c * 34) + 2;
            Transpose8(
                Signed((sbyte*)rows + o, bias), Signed((sbyte*)rows + rowBytes + o, bias), Signed((sbyte*)rows + (2 * rowBytes) + o, bias), Signed((sbyte*)rows + (3 * rowBytes) + o, bias),
                Signed((sbyte*)rows + (4 * rowBytes) + o, bias), Signed((sbyte*)rows + (5 * rowBytes) + o, bias), Signed((sbyte*)rows + (6 * rowBytes) + o, bias), Signed((sbyte*)rows + (7 * rowBytes) + o, bias),
                Codes(tile, c));
            Vector256<float> d = GgufKernels.BlockScales8(rows + ((long)c * 34), rowOffsets);
            Avx.Store(FactorA(tile, blocks, c), d);
            Avx.Store(FactorB(tile, blocks, c), d * Vector256.Create(128f));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Signed(sbyte* p, Vector256<byte> bias) => (Avx.LoadVector256((byte*)p) ^ bias).AsInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> High(Vector256<byte> q, Vector256<byte> low) => (Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & low).AsInt32();

    /// <summary>Stores the 8×8 dword transpose of rows <paramref name="r0"/>…<paramref name="r7"/> (output k = dword k of
    /// each row) as eight 32-byte groups at <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8(Vector256<int> r0, Vector256<int> r1, Vector256<int> r2, Vector256<int> r3, Vector256<int> r4, Vector256<int> r5, Vector256<int> r6, Vector256<int> r7, byte* dst)
    {
        Vector256<long> t0 = Avx2.UnpackLow(r0, r1).AsInt64(), t1 = Avx2.UnpackHigh(r0, r1).AsInt64();
        Vector256<long> t2 = Avx2.UnpackLow(r2, r3).AsInt64(), t3 = Avx2.UnpackHigh(r2, r3).AsInt64();
        Vector256<long> t4 = Avx2.UnpackLow(r4, r5).AsInt64(), t5 = Avx2.UnpackHigh(r4, r5).AsInt64();
        Vector256<long> t6 = Avx2.UnpackLow(r6, r7).AsInt64(), t7 = Avx2.UnpackHigh(r6, r7).AsInt64();
        Vector256<long> u0 = Avx2.UnpackLow(t0, t2), u1 = Avx2.UnpackHigh(t0, t2), u2 = Avx2.UnpackLow(t1, t3), u3 = Avx2.UnpackHigh(t1, t3);
        Vector256<long> u4 = Avx2.UnpackLow(t4, t6), u5 = Avx2.UnpackHigh(t4, t6), u6 = Avx2.UnpackLow(t5, t7), u7 = Avx2.UnpackHigh(t5, t7);
        Avx.Store((long*)dst, Avx2.Permute2x128(u0, u4, 0x20));
        Avx.Store((long*)(dst + 32), Avx2.Permute2x128(u1, u5, 0x20));
        Avx.Store((long*)(dst + 64), Avx2.Permute2x128(u2, u6, 0x20));
        Avx.Store((long*)(dst + 96), Avx2.Permute2x128(u3, u7, 0x20));
        Avx.Store((long*)(dst + 128), Avx2.Permute2x128(u0, u4, 0x31));
        Avx.Store((long*)(dst + 160), Avx2.Permute2x128(u1, u5, 0x31));
        Avx.Store((long*)(dst + 192), Avx2.Permute2x128(u2, u6, 0x31));
        Avx.Store((long*)(dst + 224), Avx2.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>One row's 32 codes of a chunk as 8 dwords (codes 4k…4k+3 in dword k).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Row(byte* p, Vector256<uint> shifts, Vector256<byte> low)
        => (Avx2.ShiftRightLogicalVariable(Avx2.BroadcastVector128ToVector256(p).AsUInt32(), shifts).AsByte() & low).AsInt32();

    /// <summary>Per token and chunk, <c>d · Σx</c> (the factor of the B term), into <paramref name="destination"/>.</summary>
    internal static void ScaledSums(float* d, int* sums, long count, float* destination)
    {
        for (long i = 0; i < count; i++)
        {
            destination[i] = d[i] * sums[i];
        }
    }

    /// <summary>Tokens whose activations stay cache-resident while a thread sweeps its row tiles: callers loop token
    /// blocks outside and tiles inside (re-unpacking each tile per block), so a long prefill does not stream every
    /// token's activations from memory once per 8-row tile.</summary>
    internal const int TokenBlock = 64;

    /// <summary>
    /// Prefill of rows <paramref name="start"/> … <paramref name="end"/> − 1 in whole 8-row tiles: per block of
    /// <see cref="TokenBlock"/> tokens, each tile unpacked by <paramref name="source"/> and multiplied. Returns the
    /// first row past the last whole tile (the caller finishes the rest).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int MultiplyRows<TSource>(in TSource source, int start, int end, ActivationQuantizer.Q8 x, int tokens, float* y, int yStride)
        where TSource : struct, ITileSource
    {
        int chunks = x.Chunks;
        long n = (long)tokens * chunks;
        float* scaledSums = (float*)ThreadScratch.Get((nuint)((n + source.WorkFloats) * sizeof(float)));
        ScaledSums(x.D, x.Sums, n, scaledSums);
        byte* tile = ThreadScratch.Tile(TileBytes(chunks));
        int r = start;
        for (int tb = 0; tb < tokens; tb += TokenBlock)
        {
            int count = Math.Min(TokenBlock, tokens - tb);
            for (r = start; r + Rows <= end; r += Rows)
            {
                source.Unpack(r, chunks, tile, scaledSums + n);
                MultiplyBlock(tile, chunks, tb, count, x.Q, x.D, scaledSums, y + r, yStride);
            }
        }

        return r;
    }

    /// <summary><see cref="Multiply"/> over tokens <paramref name="first"/> … <paramref name="first"/> + <paramref name="count"/> − 1.</summary>
    internal static void MultiplyBlock(byte* tile, int chunks, int first, int count, sbyte* q, float* d, float* scaledSums, float* y, long yStride)
        => Multiply(tile, chunks, count, q + ((long)first * chunks * 32), d + ((long)first * chunks), scaledSums + ((long)first * chunks), y + (first * yStride), yStride);

    /// <summary>
    /// Outputs of the tile's 8 rows for <paramref name="tokens"/> tokens: token t's results go to
    /// <c>y[t · yStride + 0 … 7]</c>. <paramref name="q"/>, <paramref name="d"/>, <paramref name="scaledSums"/>: the
    /// tokens' int8 activations (padded to whole chunks), scales and <see cref="ScaledSums"/>, token-major.
    /// Requires AVX2 and FMA (AVX-VNNI used where present).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Multiply(byte* tile, int chunks, int tokens, sbyte* q, float* d, float* scaledSums, float* y, long yStride)
    {
        long qStride = (long)chunks * 32;
        int t = 0;
        for (; t + 4 <= tokens; t += 4)
        {
            Vector256<float> o0 = default, o1 = default, o2 = default, o3 = default;
            sbyte* q0 = q + (t * qStride), q1 = q0 + qStride, q2 = q1 + qStride, q3 = q2 + qStride;
            float* d0 = d + ((long)t * chunks), d1 = d0 + chunks, d2 = d1 + chunks, d3 = d2 + chunks;
            float* e0 = scaledSums + ((long)t * chunks), e1 = e0 + chunks, e2 = e1 + chunks, e3 = e2 + chunks;
            for (int c = 0; c < chunks; c++)
            {
                byte* w = Codes(tile, c);
                int xo = c * 32;
                Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
                for (int k = 0; k < 32; k += 4)
                {
                    Vector256<byte> codes = Avx.LoadVector256(w + (k * 8));
                    i0 = DotAdd(i0, codes, *(int*)(q0 + xo + k));
                    i1 = DotAdd(i1, codes, *(int*)(q1 + xo + k));
                    i2 = DotAdd(i2, codes, *(int*)(q2 + xo + k));
                    i3 = DotAdd(i3, codes, *(int*)(q3 + xo + k));
                }

                Vector256<float> a = Avx.LoadVector256(FactorA(tile, chunks, c));
                Vector256<float> b = Avx.LoadVector256(FactorB(tile, chunks, c));
                o0 = Fma.MultiplyAddNegated(b, Vector256.Create(e0[c]), Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), a * Vector256.Create(d0[c]), o0));
                o1 = Fma.MultiplyAddNegated(b, Vector256.Create(e1[c]), Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), a * Vector256.Create(d1[c]), o1));
                o2 = Fma.MultiplyAddNegated(b, Vector256.Create(e2[c]), Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), a * Vector256.Create(d2[c]), o2));
                o3 = Fma.MultiplyAddNegated(b, Vector256.Create(e3[c]), Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), a * Vector256.Create(d3[c]), o3));
            }

            Avx.Store(y + (t * yStride), o0);
            Avx.Store(y + ((t + 1) * yStride), o1);
            Avx.Store(y + ((t + 2) * yStride), o2);
            Avx.Store(y + ((t + 3) * yStride), o3);
        }

        for (; t < tokens; t++)
        {
            Vector256<float> o = default;
            sbyte* qt = q + (t * qStride);
            float* dt = d + ((long)t * chunks), et = scaledSums + ((long)t * chunks);
            for (int c = 0; c < chunks; c++)
            {
                byte* w = Codes(tile, c);
                Vector256<int> i = default;
                for (int k = 0; k < 32; k += 4)
                {
                    i = DotAdd(i, Avx.LoadVector256(w + (k * 8)), *(int*)(qt + (c * 32) + k));
                }

                Vector256<float> a = Avx.LoadVector256(FactorA(tile, chunks, c));
                o = Fma.MultiplyAddNegated(Avx.LoadVector256(FactorB(tile, chunks, c)), Vector256.Create(et[c]), Fma.MultiplyAdd(Avx.ConvertToVector256Single(i), a * Vector256.Create(dt[c]), o));
            }

            Avx.Store(y + (t * yStride), o);
        }
    }

    /// <summary>The scalar reference of <see cref="Multiply"/>: the same integer dots and factors, summed per row in
    /// double.</summary>
    internal static void MultiplyReference(byte* tile, int chunks, int tokens, sbyte* q, float* d, float* scaledSums, float* y, long yStride)
    {
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < Rows; r++)
            {
                double sum = 0;
                for (int c = 0; c < chunks; c++)
                {
                    byte* w = Codes(tile, c);
                    int dot = 0;
                    for (int j = 0; j < 32; j++)
                    {
                        dot += w[((j / 4) * 32) + (r * 4) + (j % 4)] * q[(t * (long)chunks * 32) + (c * 32) + j];
                    }

                    long tc = ((long)t * chunks) + c;
                    sum += ((double)FactorA(tile, chunks, c)[r] * d[tc] * dot) - ((double)FactorB(tile, chunks, c)[r] * scaledSums[tc]);
                }

                y[(t * yStride) + r] = (float)sum;
            }
        }
    }

    /// <summary><paramref name="acc"/> + per 32-bit lane the sum of its four code bytes times the four activation bytes
    /// of <paramref name="x4"/>: one <c>vpdpbusd</c> with AVX-VNNI, else <c>maddubs</c> + <c>madd</c> + add (no
    /// saturation: codes ≤ 15).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotAdd(Vector256<int> acc, Vector256<byte> codes, int x4)
    {
        Vector256<sbyte> x = Vector256.Create(x4).AsSByte();
        return AvxVnni.IsSupported
            ? AvxVnni.MultiplyWideningAndAdd(acc, codes, x)
            : Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(codes, x), Vector256.Create((short)1)));
    }
}

/// <summary>A weight format's 8-row tiles for <see cref="InterleavedPrefill.MultiplyRows{TSource}"/>.</summary>
internal unsafe interface ITileSource
{
    /// <summary>Floats of scratch <see cref="Unpack"/> needs.</summary>
    long WorkFloats { get; }

    /// <summary>Unpacks rows <paramref name="row"/> … <paramref name="row"/> + 7 (of <paramref name="chunks"/> chunks)
    /// into <paramref name="tile"/>, using <paramref name="work"/> as scratch.</summary>
    void Unpack(int row, int chunks, byte* tile, float* work);
}
