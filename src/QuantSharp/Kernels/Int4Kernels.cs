using System.Numerics;
using QuantSharp.Quantization;

namespace QuantSharp.Kernels;

/// <summary>Dot product of a packed int4 row (<see cref="Int4Scheme"/>, <see cref="PackLayout"/> 4-bit order) with
/// int8-quantized activations, and the scalar reference the AVX2 path is tested against.</summary>
/// <remarks>Per 32-chunk c of group g: <c>s_g · d_c · (Σ q·x − z_g · Σ x)</c>; the code sum uses unsigned codes as
/// maddubs's unsigned operand, and the zero-point term is folded in with the precomputed activation sums.</remarks>
[SkipLocalsInit]
internal static unsafe class Int4Kernels
{
    /// <summary>Scalar reference over <paramref name="chunks"/> chunks; <paramref name="zeros"/> null = symmetric (zero 8).</summary>
    internal static float DotReference(byte* packed, Half* scales, byte* zeros, int groupChunks, int chunks, sbyte* q, float* d, int* sums)
    {
        float acc = 0;
        for (int c = 0; c < chunks; c++)
        {
            int g = c / groupChunks;
            int zero = zeros == null ? 8 : zeros[g];
            byte* p = packed + (c * 16);
            sbyte* x = q + (c * 32);
            int dot = 0;
            for (int j = 0; j < 16; j++)
            {
                dot += ((p[j] & 0xF) * x[j]) + ((p[j] >> 4) * x[j + 16]);
            }

            acc += (float)scales[g] * d[c] * (dot - (zero * sums[c]));
        }

        return acc;
    }

    /// <summary>Same as <see cref="DotReference"/>, AVX2 when available.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(byte* packed, Half* scales, byte* zeros, int groupChunks, int chunks, sbyte* q, float* d, int* sums)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            return DotReference(packed, scales, zeros, groupChunks, chunks, q, d, sums);
        }

        Vector256<short> ones = Vector256.Create((short)1);
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        Vector256<float> acc = Vector256<float>.Zero;
        float correction = 0;
        for (int g = 0, c = 0; c < chunks; g++)
        {
            float scale = (float)scales[g];
            int zero = zeros == null ? 8 : zeros[g];
            int end = Math.Min(chunks, c + groupChunks);
            for (; c < end; c++)
            {
                Vector128<byte> raw = Sse2.LoadVector128(packed + (c * 16));
                Vector256<byte> codes = Vector256.Create(raw, Sse2.ShiftRightLogical(raw.AsUInt16(), 4).AsByte()) & low;
                Vector256<short> pairs = Avx2.MultiplyAddAdjacent(codes, Avx.LoadVector256(q + (c * 32)));
                float f = scale * d[c];
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, ones)), Vector256.Create(f), acc);
                correction += f * (zero * sums[c]);
            }
        }

        return Vector256.Sum(acc) - correction;
    }
    /// <summary>Whether the row kernels that spread eight chunks' factors with one permute handle this group size: 1, 2,
    /// 4 or 8 chunks (g32 … g256). Others (g96, g160, …) take the 4-row kernels, which walk a row group by group.</summary>
    internal static bool RegisterFactors(int groupChunks) => groupChunks <= 8 && System.Numerics.BitOperations.IsPow2(groupChunks);

    /// <summary>
    /// Decode kernel for one row, groups of 1, 2, 4 or 8 chunks (g32 … g256): per chunk the code dot with the
    /// codes as unsigned bytes (<see cref="GgufKernels.DotCodes"/>), then one FMA by <c>s_g · d_c</c>; the zero-point
    /// term <c>s_g · d_c · z_g · Σx_c</c> of eight chunks is one vector FMA. The factors of eight chunks come from one vector conversion of eight F16 group scales, a
    /// constant permute that repeats each over its chunks, and a multiply by eight activation scales; they stay in a
    /// register (constant-index permutes per chunk; no store and reload). Same result as <see cref="DotReference"/>
    /// up to float summation order. Requires AVX2 and FMA; <paramref name="groupChunks"/> must be 1, 2, 4 or 8.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotRow<TCodes>(byte* packed, Half* scales, byte* zeros, int symmetricZero, int groupChunks, int chunks, sbyte* q, float* d, int* sums)
        where TCodes : struct, IChunkCodes
    {
        int chunkBytes = TCodes.ChunkBytes;
        int groupShift = BitOperations.Log2((uint)groupChunks);
        Vector256<int> spread = Vector256.Create(0, 1 >> groupShift, 2 >> groupShift, 3 >> groupShift, 4 >> groupShift, 5 >> groupShift, 6 >> groupShift, 7 >> groupShift);
        Vector256<float> acc0 = default, acc1 = default, zeroTerm = default;
        int c = 0;
        for (; c + 8 <= chunks; c += 8)
        {
            Vector256<float> factors = EightChunkFactors(scales, zeros, symmetricZero, c, groupShift, spread, d, sums, ref zeroTerm);
            RowPair<TCodes>(packed + (c * chunkBytes), q + (c * 32), factors, 0, ref acc0, ref acc1);
            RowPair<TCodes>(packed + ((c + 2) * chunkBytes), q + ((c + 2) * 32), factors, 2, ref acc0, ref acc1);
            RowPair<TCodes>(packed + ((c + 4) * chunkBytes), q + ((c + 4) * 32), factors, 4, ref acc0, ref acc1);
            RowPair<TCodes>(packed + ((c + 6) * chunkBytes), q + ((c + 6) * 32), factors, 6, ref acc0, ref acc1);
        }

        for (; c < chunks; c++)
        {
            int g = c >> groupShift;
            int zero = zeros == null ? symmetricZero : zeros[g];
            Vector256<byte> codes = TCodes.Load(packed + (c * chunkBytes));
            Vector256<int> dot = GgufKernels.DotCodes(codes, Avx.LoadVector256(q + (c * 32)), -zero * sums[c]);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(GgufKernels.HalfToSingle(scales[g]) * d[c]), acc0);
        }

        return Vector256.Sum((acc0 + acc1) - zeroTerm);
    }

    /// <summary>
    /// The activations of one token reordered for <see cref="DotRowAvx512"/>: per pair of chunks (c, c+1), 64 bytes
    /// <c>[x_c 0–15, x_c+1 0–15, x_c 16–31, x_c+1 16–31]</c>, the order in which a 512-bit broadcast of the pair's 32
    /// packed bytes yields its codes (low nibbles of both chunks, then high nibbles). An odd last chunk is left out.
    /// </summary>
    internal static void PairActivations(sbyte* q, int chunks, sbyte* destination)
    {
        for (int c = 0; c + 2 <= chunks; c += 2)
        {
            sbyte* x0 = q + (c * 32), o = destination + (c * 32);
            Sse2.Store(o, Sse2.LoadVector128(x0));
            Sse2.Store(o + 16, Sse2.LoadVector128(x0 + 32));
            Sse2.Store(o + 32, Sse2.LoadVector128(x0 + 16));
            Sse2.Store(o + 48, Sse2.LoadVector128(x0 + 48));
        }
    }

    /// <summary>
    /// <see cref="DotRow"/> with 512-bit vectors: two chunks (64 weights) per step — their 32 packed bytes broadcast to
    /// both halves, shifted by 0 / 4 bits per half and masked give all 64 codes in the order of
    /// <paramref name="paired"/> (<see cref="PairActivations"/>); <c>maddubs</c> + <c>madd</c>, one convert, one FMA by
    /// the chunks' factors spread to their lanes. An odd last chunk goes through the 256-bit step. Same result as
    /// <see cref="DotReference"/> up to float summation order. Requires AVX-512 F/BW; groups of 1, 2, 4 or 8 chunks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float DotRowAvx512<TCodes>(byte* packed, Half* scales, byte* zeros, int symmetricZero, int groupChunks, int chunks, sbyte* q, sbyte* paired, float* d, int* sums)
        where TCodes : struct, IPairCodes
    {
        int chunkBytes = TCodes.ChunkBytes;
        Vector512<short> ones = Vector512.Create((short)1);
        int groupShift = BitOperations.Log2((uint)groupChunks);
        Vector256<int> spread = Vector256.Create(0, 1 >> groupShift, 2 >> groupShift, 3 >> groupShift, 4 >> groupShift, 5 >> groupShift, 6 >> groupShift, 7 >> groupShift);
        Vector512<float> acc0 = default, acc1 = default;
        Vector256<float> zeroTerm = default;
        int c = 0;
        for (; c + 8 <= chunks; c += 8)
        {
            Vector512<float> f = EightChunkFactors(scales, zeros, symmetricZero, c, groupShift, spread, d, sums, ref zeroTerm).ToVector512Unsafe();
            acc0 = Avx512F.FusedMultiplyAdd(Pair512<TCodes>(packed + (c * chunkBytes), paired + (c * 32), ones), Avx512F.PermuteVar16x32(f, TCodes.PairLanes), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Pair512<TCodes>(packed + ((c + 2) * chunkBytes), paired + ((c + 2) * 32), ones), Avx512F.PermuteVar16x32(f, TCodes.PairLanes + Vector512.Create(2)), acc1);
            acc0 = Avx512F.FusedMultiplyAdd(Pair512<TCodes>(packed + ((c + 4) * chunkBytes), paired + ((c + 4) * 32), ones), Avx512F.PermuteVar16x32(f, TCodes.PairLanes + Vector512.Create(4)), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Pair512<TCodes>(packed + ((c + 6) * chunkBytes), paired + ((c + 6) * 32), ones), Avx512F.PermuteVar16x32(f, TCodes.PairLanes + Vector512.Create(6)), acc1);
        }

        float sum = Vector512.Sum(acc0 + acc1) - Vector256.Sum(zeroTerm);
        if (c < chunks)
        {
            // The last 1-7 chunks: the 256-bit kernel on the activation order of TCodes.Load.
            int g = c >> groupShift;
            sum += DotRow<TCodes>(packed + (c * chunkBytes), scales + g, zeros == null ? null : zeros + g, symmetricZero, groupChunks, chunks - c, q + (c * 32), d + c, sums + c);
        }

        return sum;
    }

    /// <summary>
    /// <see cref="DotRowAvx512"/> for four tokens at once (batched decode): each pair of chunks is unpacked once and
    /// multiplied by the four tokens' activations, so the row's bytes, scales and zero points are read and decoded once
    /// for all four. Token t's activations start at <c>q + t·tokenChunks·32</c> (original order) and
    /// <c>paired + t·tokenChunks·32</c> (<see cref="PairActivations"/>), its factors at <c>d + t·tokenChunks</c> and
    /// <c>sums + t·tokenChunks</c>. Writes the four dot products to <paramref name="results"/>. Same result per token as
    /// <see cref="DotRowAvx512"/>. Requires AVX-512 F/BW; groups of 1, 2, 4 or 8 chunks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DotRow4TokensAvx512(byte* packed, Half* scales, byte* zeros, int groupChunks, int chunks, sbyte* q, sbyte* paired, float* d, int* sums, int tokenChunks, float* results)
    {
        Vector512<ulong> shifts = Vector512.Create(0ul, 0, 0, 0, 4, 4, 4, 4);
        Vector512<byte> low = Vector512.Create((byte)0x0F);
        Vector512<short> ones = Vector512.Create((short)1);
        int groupShift = BitOperations.Log2((uint)groupChunks);
        Vector256<int> spread = Vector256.Create(0, 1 >> groupShift, 2 >> groupShift, 3 >> groupShift, 4 >> groupShift, 5 >> groupShift, 6 >> groupShift, 7 >> groupShift);
        long xs = (long)tokenChunks * 32;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> z0 = default, z1 = default, z2 = default, z3 = default;
        int c = 0;
        for (; c + 8 <= chunks; c += 8)
        {
            Vector512<float> f0 = EightChunkFactors(scales, zeros, 8, c, groupShift, spread, d, sums, ref z0).ToVector512Unsafe();
            Vector512<float> f1 = EightChunkFactors(scales, zeros, 8, c, groupShift, spread, d + tokenChunks, sums + tokenChunks, ref z1).ToVector512Unsafe();
            Vector512<float> f2 = EightChunkFactors(scales, zeros, 8, c, groupShift, spread, d + (2 * tokenChunks), sums + (2 * tokenChunks), ref z2).ToVector512Unsafe();
            Vector512<float> f3 = EightChunkFactors(scales, zeros, 8, c, groupShift, spread, d + (3 * tokenChunks), sums + (3 * tokenChunks), ref z3).ToVector512Unsafe();
            Vector512<int> lanes = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
            for (int k = 0; k < 8; k += 2, lanes += Vector512.Create(2))
            {
                Vector512<byte> codes = Avx512F.ShiftRightLogicalVariable(Avx512F.BroadcastVector256ToVector512((ulong*)(packed + ((c + k) * 16))), shifts).AsByte() & low;
                sbyte* x = paired + ((c + k) * 32);
                a0 = Avx512F.FusedMultiplyAdd(CodesDot512(codes, x, ones), Avx512F.PermuteVar16x32(f0, lanes), a0);
                a1 = Avx512F.FusedMultiplyAdd(CodesDot512(codes, x + xs, ones), Avx512F.PermuteVar16x32(f1, lanes), a1);
                a2 = Avx512F.FusedMultiplyAdd(CodesDot512(codes, x + (2 * xs), ones), Avx512F.PermuteVar16x32(f2, lanes), a2);
                a3 = Avx512F.FusedMultiplyAdd(CodesDot512(codes, x + (3 * xs), ones), Avx512F.PermuteVar16x32(f3, lanes), a3);
            }
        }

        results[0] = Vector512.Sum(a0) - Vector256.Sum(z0);
        results[1] = Vector512.Sum(a1) - Vector256.Sum(z1);
        results[2] = Vector512.Sum(a2) - Vector256.Sum(z2);
        results[3] = Vector512.Sum(a3) - Vector256.Sum(z3);
        if (c < chunks)
        {
            int g = c >> groupShift;
            for (int t = 0; t < 4; t++)
            {
                long tc = (long)t * tokenChunks;
                results[t] += DotRow<Nibble4Codes>(packed + (c * 16), scales + g, zeros == null ? null : zeros + g, 8, groupChunks, chunks - c, q + ((tc + c) * 32), d + tc + c, sums + tc + c);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> CodesDot512(Vector512<byte> codes, sbyte* x, Vector512<short> ones)
        => Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(codes, Avx512BW.LoadVector512(x)), ones));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pair512<TCodes>(byte* p, sbyte* x, Vector512<short> ones)
        where TCodes : struct, IPairCodes
    {
        Vector512<byte> codes = TCodes.LoadPair(p);
        Vector512<int> dot = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(codes, Avx512BW.LoadVector512(x)), ones);
        return Avx512F.ConvertToVector512Single(dot);
    }

    /// <summary>For chunks c…c+7 of a row: the factors <c>s_g · d_c</c> (the eight chunks span 8 / groupChunks groups,
    /// whose scales and zero points are read exactly — never past the row — and spread to their chunks by a permute),
    /// and the zero-point term of the eight chunks, <c>Σ_k factor_k · z_k · Σx_k</c>, added to
    /// <paramref name="zeroTerm"/> (z = <paramref name="symmetricZero"/> when <paramref name="zeros"/> is null).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> EightChunkFactors(Half* scales, byte* zeros, int symmetricZero, int c, int groupShift, Vector256<int> spread, float* d, int* sums, ref Vector256<float> zeroTerm)
    {
        int g = c >> groupShift;
        Vector256<float> factors = Avx2.PermuteVar8x32(HalvesToSingles(LoadGroupValues((byte*)(scales + g), 2 * (8 >> groupShift)).AsInt16()), spread) * Avx.LoadVector256(d + c);
        Vector256<int> zero = zeros == null ? Vector256.Create(symmetricZero) : Avx2.PermuteVar8x32(Avx2.ConvertToVector256Int32(LoadGroupValues(zeros + g, 8 >> groupShift)), spread);
        zeroTerm = Fma.MultiplyAdd(factors, Avx.ConvertToVector256Single(zero * Avx.LoadVector256(sums + c)), zeroTerm);
        return factors;
    }

    /// <summary>Two chunks of <see cref="DotRow"/>: chunk <paramref name="k"/> and k+1 of the current eight.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowPair<TCodes>(byte* p, sbyte* q, Vector256<float> factors, int k, ref Vector256<float> acc0, ref Vector256<float> acc1)
        where TCodes : struct, IChunkCodes
    {
        Vector256<byte> codes0 = TCodes.Load(p);
        Vector256<byte> codes1 = TCodes.Load(p + TCodes.ChunkBytes);
        Vector256<int> dot0 = GgufKernels.DotCodes(codes0, Avx.LoadVector256(q), 0);
        Vector256<int> dot1 = GgufKernels.DotCodes(codes1, Avx.LoadVector256(q + 32), 0);
        acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot0), Avx2.PermuteVar8x32(factors, Vector256.Create(k)), acc0);
        acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot1), Avx2.PermuteVar8x32(factors, Vector256.Create(k + 1)), acc1);
    }

    /// <summary>The first <paramref name="bytes"/> (1, 2, 4, 8 or 16) bytes at <paramref name="p"/> in the low end of
    /// a vector, the rest zero; reads nothing past them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> LoadGroupValues(byte* p, int bytes) => bytes switch
    {
        16 => Sse2.LoadVector128(p),
        8 => Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(p)).AsByte(),
        4 => Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>(p)).AsByte(),
        2 => Vector128.CreateScalar(Unsafe.ReadUnaligned<ushort>(p)).AsByte(),
        _ => Vector128.CreateScalar(*p),
    };

    /// <summary>Eight F16 values (as 16-bit integers) as floats, exact for every half: sign, exponent and mantissa moved
    /// to F32 positions and scaled by 2¹¹² (which rebiases the exponent and normalises subnormals); exponent 31 first
    /// gets the extra bits that keep it infinity/NaN. The scaling is an FMA with −0 as addend (the same exact result as
    /// a multiply) because on this Zen 5 a <c>vmulps</c> with subnormal inputs — the F32 bits of a subnormal half —
    /// takes a slow path while the FMA does not: Q4_K decode, whose dmin values are often subnormal halves, ran at
    /// 18.7 G weights/s with the multiply and 36.8 with the FMA (an integer-only conversion gave 35.7 but cost Q4_0 12%).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> HalvesToSingles(Vector128<short> h) => WideHalvesToSingles(Avx2.ConvertToVector256Int32(h));

    /// <summary><see cref="HalvesToSingles"/> for eight halves already sign-extended to 32-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> WideHalvesToSingles(Vector256<int> wide)
    {
        Vector256<int> bits = Avx2.ShiftLeftLogical(wide, 13) & Vector256.Create(unchecked((int)0x8FFFE000));
        Vector256<int> special = Avx2.CompareGreaterThan(bits & Vector256.Create(0x0FFFE000), Vector256.Create(0x0F7FFFFF)) & Vector256.Create(0x70000000);
        return Fma.MultiplyAdd((bits | special).AsSingle(), Vector256.Create(0x77800000).AsSingle(), Vector256.Create(-0f));
    }

    /// <summary>
    /// Dot products of four consecutive rows (<paramref name="rowBytes"/> apart) with the same activations, as
    /// <see cref="DotReference"/> computes them per row. The activations' chunk loads and scale broadcasts are shared by the
    /// four rows; each 16-byte chunk is broadcast to both lanes and shifted by 0 / 4 bits per lane (low / high nibbles);
    /// products go through <c>vpdpbusd</c> where AVX-VNNI exists (else <c>maddubs</c> + <c>madd</c>); the zero-point term
    /// <c>Σ_g s_g · z_g · Σ_{c∈g} d_c · sum_c</c> uses <paramref name="groupDSums"/> precomputed once per activation vector.
    /// </summary>
    /// <remarks><c>scales</c>: four rows of group scales as F32, <c>groups</c> apart; <c>zeros</c>: the first row's zero
    /// points (rows <c>groups</c> apart) or null for symmetric (zero 8); <c>groupDSums</c>: per weight group, Σ over its
    /// chunks of d[c] · sums[c].</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4(byte* packed, int rowBytes, float* scales, byte* zeros, int groups, int groupChunks, int chunks, sbyte* q, float* d, float* groupDSums, float* result)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            for (int i = 0; i < 4; i++)
            {
                result[i] = DotReferenceF32Scales(packed + (i * rowBytes), scales + (i * groups), zeros == null ? null : zeros + (i * groups), groupChunks, chunks, q, d, groupDSums);
            }

            return;
        }

        GroupedDot4.Sums<Nibble4Codes>(packed, rowBytes, scales, groups, groupChunks, chunks, q, d, result);
        SubtractCorrections(result, scales, zeros, groups, groupDSums);
    }

    /// <summary>Subtracts each of the four rows' zero-point terms from its sum.</summary>
    private static void SubtractCorrections(float* result, float* scales, byte* zeros, int groups, float* groupDSums)
    {
        for (int i = 0; i < 4; i++)
        {
            result[i] -= Correction(scales + (i * groups), zeros == null ? null : zeros + (i * groups), 8, groups, groupDSums);
        }
    }

    /// <summary>Unpacks four rows (<paramref name="rowBytes"/> apart) of <paramref name="chunks"/> packed chunks into
    /// one code byte per weight (<paramref name="codes"/>: row i at <c>i · chunks · 32</c>, chunk c at <c>c · 32</c>),
    /// in the order <see cref="Nibble4Codes"/> produces them: for prefill, where one unpack serves every token.</summary>
    internal static void Unpack4(byte* packed, int rowBytes, int chunks, byte* codes)
    {
        for (int i = 0; i < 4; i++)
        {
            byte* p = packed + (i * rowBytes);
            byte* o = codes + ((long)i * chunks * 32);
            for (int c = 0; c < chunks; c++)
            {
                if (Avx2.IsSupported)
                {
                    Avx.Store(o + (c * 32), Nibble4Codes.Load(p + (c * 16)));
                }
                else
                {
                    for (int j = 0; j < 16; j++)
                    {
                        o[(c * 32) + j] = (byte)(p[(c * 16) + j] & 0xF);
                        o[(c * 32) + j + 16] = (byte)(p[(c * 16) + j] >> 4);
                    }
                }
            }
        }
    }

    /// <summary><see cref="Dot4"/> on codes unpacked by <see cref="Unpack4"/>: the same integer dots and the same float
    /// operations in the same order, so the results are bit-identical; only the unpacking is gone from the loop.
    /// Requires AVX2 and FMA (the caller falls back to <see cref="Dot4"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4Codes(byte* codes, float* scales, byte* zeros, int groups, int groupChunks, int chunks, sbyte* q, float* d, float* groupDSums, float* result)
    {
        GroupedDot4.Sums<UnpackedCodes>(codes, (long)chunks * 32, scales, groups, groupChunks, chunks, q, d, result);
        SubtractCorrections(result, scales, zeros, groups, groupDSums);
    }

    /// <summary>Σ_g s_g · z_g · groupDSums[g]: the zero-point term of a row (<paramref name="zeros"/> null: every
    /// z_g is <paramref name="symmetricZero"/>). Shared by the grouped integer formats (int4, int2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Correction(float* scales, byte* zeros, int symmetricZero, int groups, float* groupDSums)
    {
        float sum = 0;
        for (int g = 0; g < groups; g++)
        {
            sum += scales[g] * (zeros == null ? symmetricZero : zeros[g]) * groupDSums[g];
        }

        return sum;
    }

    /// <summary>Scalar form of <see cref="Dot4"/> for one row (F32 scales, precomputed group sums); the non-AVX2 path.</summary>
    internal static float DotReferenceF32Scales(byte* packed, float* scales, byte* zeros, int groupChunks, int chunks, sbyte* q, float* d, float* groupDSums)
    {
        float acc = 0;
        for (int c = 0; c < chunks; c++)
        {
            byte* p = packed + (c * 16);
            sbyte* x = q + (c * 32);
            int dot = 0;
            for (int j = 0; j < 16; j++)
            {
                dot += ((p[j] & 0xF) * x[j]) + ((p[j] >> 4) * x[j + 16]);
            }

            acc += scales[c / groupChunks] * d[c] * dot;
        }

        return acc - Correction(scales, zeros, 8, (chunks + groupChunks - 1) / groupChunks, groupDSums);
    }

    /// <summary>Per weight group of <paramref name="groupChunks"/> chunks: Σ d[c] · sums[c] (the zero-point term's activation part).</summary>
    internal static void GroupDSums(float* d, int* sums, int chunks, int groupChunks, float* destination)
    {
        for (int g = 0, c = 0; c < chunks; g++)
        {
            float s = 0;
            int end = Math.Min(chunks, c + groupChunks);
            for (; c < end; c++)
            {
                s += d[c] * sums[c];
            }

            destination[g] = s;
        }
    }
}
