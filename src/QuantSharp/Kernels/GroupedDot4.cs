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

/// <summary>4-bit codes in <see cref="Quantization.PackLayout"/> order: the 16-byte chunk broadcast to both lanes,
/// shifted by 0 / 4 bits per lane (low / high nibbles).</summary>
internal readonly unsafe struct Nibble4Codes : IChunkCodes
{
    public static int ChunkBytes => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Load(byte* chunk)
        => Avx2.ShiftRightLogicalVariable(Avx2.BroadcastVector128ToVector256(chunk).AsUInt32(), Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4)).AsByte()
            & Vector256.Create((byte)0x0F);
}

/// <summary>2-bit codes in <see cref="Quantization.PackLayout"/> order: the 8-byte chunk broadcast to four 64-bit
/// lanes shifted by 0 / 2 / 4 / 6 bits.</summary>
internal readonly unsafe struct Crumb2Codes : IChunkCodes
{
    public static int ChunkBytes => 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Load(byte* chunk)
        => Avx2.ShiftRightLogicalVariable(Vector256.Create(Unsafe.ReadUnaligned<ulong>(chunk)), Vector256.Create(0UL, 2UL, 4UL, 6UL)).AsByte()
            & Vector256.Create((byte)3);
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
