namespace QuantSharp.Kernels;

/// <summary>How one 32-weight chunk of a packed row becomes 32 unsigned code bytes in activation order (the
/// operator struct of <see cref="GroupedDot4"/>, as TensorPrimitives passes its operators).</summary>
internal unsafe interface IChunkCodes
{
    /// <summary>Bytes of one chunk in the packed row.</summary>
    static abstract int ChunkBytes { get; }

    /// <summary>The chunk at <paramref name="chunk"/> as 32 codes (AVX2).</summary>
    static abstract Vector256<byte> Load(byte* chunk);
}

/// <summary>A chunk unpacker that also unpacks two chunks (64 codes) into one 512-bit vector, for the AVX-512 row kernel
/// (<see cref="Int4Kernels.DotRowAvx512{TCodes}"/>); the activations are arranged in that order.</summary>
internal unsafe interface IPairCodes : IChunkCodes
{
    /// <summary>Which chunk of the pair (0 or 1) each 32-bit lane of a dot product over <see cref="LoadPair"/>'s codes
    /// covers (four codes per lane).</summary>
    static abstract Vector512<int> PairLanes { get; }

    /// <summary>Chunks c and c + 1 at <paramref name="pair"/> as 64 codes (AVX-512 F).</summary>
    static abstract Vector512<byte> LoadPair(byte* pair);
}

/// <summary>4-bit codes in <see cref="Quantization.PackLayout"/> order: the 16-byte chunk broadcast to both lanes,
/// shifted by 0 / 4 bits per lane (low / high nibbles).</summary>
internal readonly unsafe struct Nibble4Codes : IPairCodes
{
    public static int ChunkBytes => 16;

    /// <summary>The pair's 32 bytes broadcast to both halves, shifted by 0 / 4 bits per half: the low nibbles of both
    /// chunks, then the high nibbles (<see cref="Int4Kernels.PairActivations"/> order).</summary>
    public static Vector512<int> PairLanes => Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> LoadPair(byte* pair)
        => Avx512F.ShiftRightLogicalVariable(Avx512F.BroadcastVector256ToVector512((ulong*)pair), Vector512.Create(0ul, 0, 0, 0, 4, 4, 4, 4)).AsByte() & Vector512.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Load(byte* chunk)
        => Avx2.ShiftRightLogicalVariable(Avx2.BroadcastVector128ToVector256(chunk).AsUInt32(), Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4)).AsByte()
            & Vector256.Create((byte)0x0F);
}

/// <summary>2-bit codes in <see cref="Quantization.PackLayout"/> order: the 8-byte chunk broadcast to four 64-bit
/// lanes shifted by 0 / 2 / 4 / 6 bits.</summary>
internal readonly unsafe struct Crumb2Codes : IPairCodes
{
    public static int ChunkBytes => 8;

    /// <summary>Each chunk's 8 bytes in four 64-bit lanes shifted by 0 / 2 / 4 / 6 bits: the two chunks one after the
    /// other, each in the order of <see cref="Load"/>.</summary>
    public static Vector512<int> PairLanes => Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> LoadPair(byte* pair)
        => Avx512F.ShiftRightLogicalVariable(Avx512F.PermuteVar8x64(Avx512F.BroadcastVector128ToVector512((int*)pair).AsUInt64(), Vector512.Create(0ul, 0, 0, 0, 1, 1, 1, 1)), Vector512.Create(0ul, 2, 4, 6, 0, 2, 4, 6)).AsByte()
            & Vector512.Create((byte)3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Load(byte* chunk)
        => Avx2.ShiftRightLogicalVariable(Vector256.Create(Unsafe.ReadUnaligned<ulong>(chunk)), Vector256.Create(0UL, 2UL, 4UL, 6UL)).AsByte()
            & Vector256.Create((byte)3);
}

/// <summary>3-bit codes of <see cref="Quantization.IntGroupScheme"/>'s little-endian stream (12 bytes per chunk): the chunk
/// read without overrun into both lanes, the two bytes under each code moved into a 16-bit lane (<c>pshufb</c>), shifted
/// left by 13 − offset with a multiply so the code lands in bits 13–15, shifted down and packed back to bytes in order.</summary>
internal readonly unsafe struct Int3Codes : IChunkCodes
{
    public static int ChunkBytes => 12;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Load(byte* chunk)
    {
        // Lane j (16 bits) of `low` holds code j (low 128 bits) or 16 + j (high), of `high` code 8 + j or 24 + j, so the
        // in-lane pack puts codes 0-7, 8-15 | 16-23, 24-31 in order. Code i starts at bit 3i: bytes 3i/8 and 3i/8 + 1
        // (index 128: zero, past the chunk), shifted left by 13 - 3i % 8; the offsets repeat every 8 codes.
        Vector128<byte> bytes = Vector128.Create(Unsafe.ReadUnaligned<ulong>(chunk), Unsafe.ReadUnaligned<uint>(chunk + 8)).AsByte();
        Vector256<byte> both = Vector256.Create(bytes, bytes);
        Vector256<ushort> shifts = Vector256.Create((ushort)8192, 1024, 128, 4096, 512, 64, 2048, 256, 8192, 1024, 128, 4096, 512, 64, 2048, 256);
        Vector256<byte> lowWindows = Vector256.Create((byte)0, 1, 0, 1, 0, 1, 1, 2, 1, 2, 1, 2, 2, 3, 2, 3, 6, 7, 6, 7, 6, 7, 7, 8, 7, 8, 7, 8, 8, 9, 8, 9);
        Vector256<byte> highWindows = Vector256.Create((byte)3, 4, 3, 4, 3, 4, 4, 5, 4, 5, 4, 5, 5, 6, 5, 6, 9, 10, 9, 10, 9, 10, 10, 11, 10, 11, 10, 11, 11, 128, 11, 128);
        Vector256<ushort> low = Avx2.ShiftRightLogical(Avx2.MultiplyLow(Avx2.Shuffle(both, lowWindows).AsUInt16(), shifts), 13);
        Vector256<ushort> high = Avx2.ShiftRightLogical(Avx2.MultiplyLow(Avx2.Shuffle(both, highWindows).AsUInt16(), shifts), 13);
        return Avx2.PackUnsignedSaturate(low.AsInt16(), high.AsInt16());
    }
}

/// <summary>Codes already unpacked to one byte each (a prefill tile unpacked once for every token).</summary>
internal readonly unsafe struct UnpackedCodes : IChunkCodes
{
    public static int ChunkBytes => 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Load(byte* chunk) => Avx.LoadVector256(chunk);
}

/// <summary>
/// The grouped dot products of four rows with one int8-quantized activation vector, for every format whose row is
/// chunks of 32 unsigned codes under one float scale per group of <c>groupChunks</c> chunks (int4, ternary):
/// <c>acc_i = Σ_g s_i[g] · Σ_{c∈g} d_c · (codes_i[c] · q[c])</c>. Activation loads and scale broadcasts are shared by
/// the four rows; the integer dots go through <c>vpdpbusd</c> where AVX-VNNI exists (else <c>maddubs</c> + <c>madd</c>).
/// Each format subtracts its own code-offset term (zero points, ternary's +1) from the sums. Requires AVX2 and FMA.
/// </summary>
internal static unsafe class GroupedDot4
{
    /// <summary>Writes the four sums to <paramref name="result"/>: row i's chunks start at
    /// <c>packed + i · rowStride</c>, its scales at <c>scales + i · scaleRowStride</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Sums<TCodes>(byte* packed, long rowStride, float* scales, long scaleRowStride, int groupChunks, int chunks, sbyte* q, float* d, float* result)
        where TCodes : struct, IChunkCodes
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* p0 = packed, p1 = packed + rowStride, p2 = p1 + rowStride, p3 = p2 + rowStride;
        float* s0 = scales, s1 = scales + scaleRowStride, s2 = s1 + scaleRowStride, s3 = s2 + scaleRowStride;
        if (groupChunks == 1)
        {
            // One chunk per group: the group sum is FMA(dot, d, 0) = dot · d (a zero addend cannot change a rounded
            // product except −0 → +0, which adds nothing to an accumulator that starts at +0), so this is the same order.
            for (int c = 0; c < chunks; c++)
            {
                Vector256<sbyte> qv = Avx.LoadVector256(q + (c * 32));
                Vector256<float> dv = Vector256.Create(d[c]);
                int o = c * TCodes.ChunkBytes;
                acc0 = Fma.MultiplyAdd(Dot(TCodes.Load(p0 + o), qv) * dv, Vector256.Create(s0[c]), acc0);
                acc1 = Fma.MultiplyAdd(Dot(TCodes.Load(p1 + o), qv) * dv, Vector256.Create(s1[c]), acc1);
                acc2 = Fma.MultiplyAdd(Dot(TCodes.Load(p2 + o), qv) * dv, Vector256.Create(s2[c]), acc2);
                acc3 = Fma.MultiplyAdd(Dot(TCodes.Load(p3 + o), qv) * dv, Vector256.Create(s3[c]), acc3);
            }
        }

        for (int g = 0, c = groupChunks == 1 ? chunks : 0; c < chunks; g++)
        {
            Vector256<float> g0 = default, g1 = default, g2 = default, g3 = default;
            int end = Math.Min(chunks, c + groupChunks);
            for (; c < end; c++)
            {
                Vector256<sbyte> qv = Avx.LoadVector256(q + (c * 32));
                Vector256<float> dv = Vector256.Create(d[c]);
                int o = c * TCodes.ChunkBytes;
                g0 = Fma.MultiplyAdd(Dot(TCodes.Load(p0 + o), qv), dv, g0);
                g1 = Fma.MultiplyAdd(Dot(TCodes.Load(p1 + o), qv), dv, g1);
                g2 = Fma.MultiplyAdd(Dot(TCodes.Load(p2 + o), qv), dv, g2);
                g3 = Fma.MultiplyAdd(Dot(TCodes.Load(p3 + o), qv), dv, g3);
            }

            acc0 = Fma.MultiplyAdd(g0, Vector256.Create(s0[g]), acc0);
            acc1 = Fma.MultiplyAdd(g1, Vector256.Create(s1[g]), acc1);
            acc2 = Fma.MultiplyAdd(g2, Vector256.Create(s2[g]), acc2);
            acc3 = Fma.MultiplyAdd(g3, Vector256.Create(s3[g]), acc3);
        }

        result[0] = Vector256.Sum(acc0);
        result[1] = Vector256.Sum(acc1);
        result[2] = Vector256.Sum(acc2);
        result[3] = Vector256.Sum(acc3);
    }

    /// <summary>Eight int32 partial sums of one chunk's 32 code·q products, as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Dot(Vector256<byte> codes, Vector256<sbyte> qv)
    {
        Vector256<int> dot = AvxVnni.IsSupported
            ? AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, codes, qv)
            : Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(codes, qv), Vector256.Create((short)1));
        return Avx.ConvertToVector256Single(dot);
    }
}
