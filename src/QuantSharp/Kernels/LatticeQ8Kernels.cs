using System.Runtime.InteropServices;
using QuantSharp.Formats.Gguf;
using QuantSharp.Quantization.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Decode kernels of the lattice types (IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S) on int8 activations
/// (<see cref="ActivationQuantizer"/>, one scale per 32 inputs), as llama.cpp multiplies them against its Q8_K blocks.
/// Per 32 weights: the four (IQ2) or eight (IQ3) grid points are gathered as bytes straight from the codebook, the
/// group signs are moved onto the activations (<c>vpsignb</c> with a gathered ±1 byte pattern per sign byte), <c>maddubs</c>
/// multiplies grid bytes by signed activations, <c>madd</c> applies the integer group scales (2s+1), and one convert and
/// one FMA by <c>d_block · d_activations</c> add the 32 weights to the sum. Reference: <see cref="DotReference"/>.
/// </summary>
internal static unsafe class LatticeQ8Kernels
{
    // Signed grid points: every grid index combined with every sign pattern of its weights, so one table read yields the
    // signed points and no sign is computed per weight. IQ2_XS: a whole 16-bit entry (9-bit index | 7 sign bits << 9)
    // → 8 points (512 KiB); IQ2_S: (4 signs << 11 | 10-bit index << 1 | half) → 4 points (128 KiB); IQ3_XXS: (4 signs
    // << 8 | 8-bit index) → 4 points (16 KiB); IQ3_S: (4 signs << 9 | 9-bit index) → 4 points (32 KiB).
    private static readonly sbyte[] s_iq2xsSignedGrid = SignedEntries(GgufLatticeGrids.Iq2xs, 8, 512, 128, e => GgufLatticeGrids.Signs[e]);
    private static readonly sbyte[] s_iq2sSignedHalves = SignedEntries(GgufLatticeGrids.Iq2s, 4, 2048, 16, e => e);
    private static readonly sbyte[] s_iq3xxsSignedPoints = SignedEntries(GgufLatticeGrids.Iq3xxs, 4, 256, 16, e => e);
    private static readonly sbyte[] s_iq3sSignedPoints = SignedEntries(GgufLatticeGrids.Iq3s, 4, 512, 16, e => e);

    // GgufLatticeGrids.Signs: the full 8-bit sign pattern from 7 stored bits (the 8th is their parity).
    private static readonly byte[] s_parityTable = Pinned(GgufLatticeGrids.Signs);

    // IQ2 scale byte s → 16 shorts: 2·(s & 15) + 1 for the first 16 weights of a 32, 2·(s >> 4) + 1 for the last 16.
    private static readonly short[] s_halfScalesTable = HalfScales();

    /// <summary>True for the types these kernels run.</summary>
    public static bool Handles(GgmlType type) => type is GgmlType.IQ2_XS or GgmlType.IQ2_S or GgmlType.IQ3_XXS or GgmlType.IQ3_S;

    /// <summary>Σ_j w_j · q_j · d_(j/32) over one row of <paramref name="cols"/> weights (a multiple of 256) stored as
    /// <paramref name="type"/> blocks, against int8 activations <paramref name="q"/> with per-32 scales <paramref name="d"/>.
    /// Requires AVX2 and FMA.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(GgmlType type, byte* row, int cols, sbyte* q, float* d) => type switch
    {
        GgmlType.IQ2_XS => Iq2Xs(row, cols / 256, q, d),
        GgmlType.IQ2_S => Iq2S(row, cols / 256, q, d),
        GgmlType.IQ3_XXS => Iq3Xxs(row, cols / 256, q, d),
        GgmlType.IQ3_S => Iq3S(row, cols / 256, q, d),
        _ => throw new NotSupportedException($"{type} is not a lattice type"),
    };

    /// <summary>Scalar reference of <see cref="Dot"/>: the row dequantized by <see cref="GgufDequantize"/>, dotted in
    /// double with the activations <c>q · d</c>.</summary>
    public static float DotReference(GgmlType type, byte* row, int cols, sbyte* q, float* d)
    {
        float[] w = new float[cols];
        GgufDequantize.Row(type, new ReadOnlySpan<byte>(row, cols / 256 * GgmlTypeInfo.TypeSize(type)), w);
        double sum = 0;
        for (int i = 0; i < cols; i++)
        {
            sum += (double)w[i] * (q[i] * d[i / 32]);
        }

        return (float)sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Iq2Xs(byte* row, int blocks, sbyte* q, float* d)
    {
        ulong* signedGrid = (ulong*)Ptr(s_iq2xsSignedGrid);
        short* scales = (short*)Ptr(s_halfScalesTable);
        Vector256<float> acc0 = default, acc1 = default;
        var x = (BlockIQ2_XS*)row;
        for (int i = 0; i < blocks; i++, q += 256, d += 8)
        {
            float db = GgufKernels.HalfToSingle(x[i].D) * 0.125f;
            ushort* qs = x[i].Qs;
            byte* sc = x[i].Scales;
            for (int b = 0; b < 8; b += 2, qs += 8)
            {
                // A whole 16-bit entry (9-bit grid index, 7 sign bits) indexes the signed grid points directly.
                acc0 = SignedThirtyTwo(Vector256.Create(signedGrid[qs[0]], signedGrid[qs[1]], signedGrid[qs[2]], signedGrid[qs[3]]).AsSByte(), q + (32 * b), Vector256.Load(scales + (16 * sc[b])), db * d[b], acc0);
                acc1 = SignedThirtyTwo(Vector256.Create(signedGrid[qs[4]], signedGrid[qs[5]], signedGrid[qs[6]], signedGrid[qs[7]]).AsSByte(), q + (32 * (b + 1)), Vector256.Load(scales + (16 * sc[b + 1])), db * d[b + 1], acc1);
            }
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>32 weights from their signed grid points <paramref name="points"/>: <c>maddubs(|q|, sign(q) · w)</c> = Σ w·q per pair, <c>madd</c> by the integer scales per 16 weights <paramref name="scales"/>; adds <c>factor · Σ</c> to <paramref name="acc"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SignedThirtyTwo(Vector256<sbyte> points, sbyte* q, Vector256<short> scales, float factor, Vector256<float> acc)
    {
        Vector256<sbyte> x = Avx.LoadVector256(q);
        Vector256<int> dot = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(x), Avx2.Sign(points, x)), scales);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(factor), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Iq2S(byte* row, int blocks, sbyte* q, float* d)
    {
        uint* table = (uint*)Ptr(s_iq2sSignedHalves);
        short* scales = (short*)Ptr(s_halfScalesTable);
        Vector256<float> acc0 = default, acc1 = default;
        var x = (BlockIQ2_S*)row;
        for (int i = 0; i < blocks; i++, q += 256, d += 8)
        {
            float db = GgufKernels.HalfToSingle(x[i].D) * 0.125f;
            byte* qs = x[i].Qs;
            byte* qh = x[i].Qh;
            byte* sc = x[i].Scales;
            for (int b = 0; b < 8; b += 2, qs += 8)
            {
                acc0 = SignedThirtyTwo(Iq2SPoints(table, qs, qh[b]), q + (32 * b), Vector256.Load(scales + (16 * sc[b])), db * d[b], acc0);
                acc1 = SignedThirtyTwo(Iq2SPoints(table, qs + 4, qh[b + 1]), q + (32 * (b + 1)), Vector256.Load(scales + (16 * sc[b + 1])), db * d[b + 1], acc1);
            }
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>32 signed IQ2_S points: per group l a 10-bit grid index (8 bits in qs, 2 in qh) and the sign byte 32
    /// bytes further on, each half of the point read with its sign nibble.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Iq2SPoints(uint* table, byte* qs, int h)
    {
        int g0 = (qs[0] | ((h << 8) & 0x300)) << 1, g1 = (qs[1] | ((h << 6) & 0x300)) << 1;
        int g2 = (qs[2] | ((h << 4) & 0x300)) << 1, g3 = (qs[3] | ((h << 2) & 0x300)) << 1;
        int s0 = qs[32], s1 = qs[33], s2 = qs[34], s3 = qs[35];
        return Vector256.Create(
            table[g0 | ((s0 & 15) << 11)], table[g0 | 1 | ((s0 >> 4) << 11)], table[g1 | ((s1 & 15) << 11)], table[g1 | 1 | ((s1 >> 4) << 11)],
            table[g2 | ((s2 & 15) << 11)], table[g2 | 1 | ((s2 >> 4) << 11)], table[g3 | ((s3 & 15) << 11)], table[g3 | 1 | ((s3 >> 4) << 11)]).AsSByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Iq3Xxs(byte* row, int blocks, sbyte* q, float* d)
    {
        uint* table = (uint*)Ptr(s_iq3xxsSignedPoints);
        byte* parity = Ptr(s_parityTable);
        Vector256<float> acc0 = default, acc1 = default;
        var x = (BlockIQ3_XXS*)row;
        for (int i = 0; i < blocks; i++, q += 256, d += 8)
        {
            float db = GgufKernels.HalfToSingle(x[i].D) * 0.25f;
            byte* qs = x[i].Qs;
            uint* packed = (uint*)(x[i].Qs + 64);
            for (int b = 0; b < 8; b += 2, qs += 16)
            {
                // A 32-bit word per 32 weights: four 7-bit sign groups (the 8th sign is their parity) and a 4-bit scale.
                uint p0 = packed[b], p1 = packed[b + 1];
                acc0 = SignedThirtyTwo(Iq3XxsPoints(table, parity, qs, p0), q + (32 * b), Vector256.Create((short)(1 + (2 * (int)(p0 >> 28)))), db * d[b], acc0);
                acc1 = SignedThirtyTwo(Iq3XxsPoints(table, parity, qs + 8, p1), q + (32 * (b + 1)), Vector256.Create((short)(1 + (2 * (int)(p1 >> 28)))), db * d[b + 1], acc1);
            }
        }

        return Vector256.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Iq3XxsPoints(uint* table, byte* parity, byte* qs, uint packed)
    {
        int s0 = parity[packed & 127], s1 = parity[(packed >> 7) & 127], s2 = parity[(packed >> 14) & 127], s3 = parity[(packed >> 21) & 127];
        return Vector256.Create(
            table[qs[0] | ((s0 & 15) << 8)], table[qs[1] | ((s0 >> 4) << 8)], table[qs[2] | ((s1 & 15) << 8)], table[qs[3] | ((s1 >> 4) << 8)],
            table[qs[4] | ((s2 & 15) << 8)], table[qs[5] | ((s2 >> 4) << 8)], table[qs[6] | ((s3 & 15) << 8)], table[qs[7] | ((s3 >> 4) << 8)]).AsSByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Iq3S(byte* row, int blocks, sbyte* q, float* d)
    {
        uint* table = (uint*)Ptr(s_iq3sSignedPoints);
        Vector256<float> acc0 = default, acc1 = default;
        var x = (BlockIQ3_S*)row;
        for (int i = 0; i < blocks; i++, q += 256, d += 8)
        {
            float db = GgufKernels.HalfToSingle(x[i].D);
            byte* qs = x[i].Qs;
            byte* qh = x[i].Qh;
            byte* sg = x[i].Signs;
            for (int b = 0; b < 8; b += 2, qs += 16, sg += 8)
            {
                int scales = x[i].Scales[b / 2];
                acc0 = SignedThirtyTwo(Iq3SPoints(table, qs, qh[b], sg), q + (32 * b), Vector256.Create((short)(1 + (2 * (scales & 0xF)))), db * d[b], acc0);
                acc1 = SignedThirtyTwo(Iq3SPoints(table, qs + 8, qh[b + 1], sg + 4), q + (32 * (b + 1)), Vector256.Create((short)(1 + (2 * (scales >> 4)))), db * d[b + 1], acc1);
            }
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>32 signed IQ3_S points: eight 9-bit grid indices (8 bits in qs, the 9th in qh) and four sign bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Iq3SPoints(uint* table, byte* qs, int h, byte* sg)
    {
        int s0 = sg[0], s1 = sg[1], s2 = sg[2], s3 = sg[3];
        return Vector256.Create(
            table[qs[0] | ((h << 8) & 256) | ((s0 & 15) << 9)], table[qs[1] | ((h << 7) & 256) | ((s0 >> 4) << 9)],
            table[qs[2] | ((h << 6) & 256) | ((s1 & 15) << 9)], table[qs[3] | ((h << 5) & 256) | ((s1 >> 4) << 9)],
            table[qs[4] | ((h << 4) & 256) | ((s2 & 15) << 9)], table[qs[5] | ((h << 3) & 256) | ((s2 >> 4) << 9)],
            table[qs[6] | ((h << 2) & 256) | ((s3 & 15) << 9)], table[qs[7] | ((h << 1) & 256) | ((s3 >> 4) << 9)]).AsSByte();
    }

    private static byte* Ptr<T>(T[] pinned)
        where T : unmanaged
        => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));

    private static byte[] Pinned(byte[] source)
    {
        byte[] copy = GC.AllocateArray<byte>(source.Length, pinned: true);
        source.CopyTo(copy, 0);
        return copy;
    }

    /// <summary>For each of <paramref name="entries"/> points of <paramref name="width"/> grid bytes (the grid read as
    /// consecutive points of that width) and each of <paramref name="patterns"/> sign codes: the points with weight j
    /// negated where bit j of <c>signsOf(code)</c> is set. Entry <c>(code · entries) + point</c>.</summary>
    private static sbyte[] SignedEntries(byte[] grid, int width, int entries, int patterns, Func<int, int> signsOf)
    {
        sbyte[] table = GC.AllocateArray<sbyte>(entries * patterns * width, pinned: true);
        for (int e = 0; e < entries; e++)
        {
            for (int c = 0; c < patterns; c++)
            {
                int signs = signsOf(c);
                for (int j = 0; j < width; j++)
                {
                    int v = grid[(width * e) + j];
                    table[(((c * entries) + e) * width) + j] = (sbyte)((signs & (1 << j)) != 0 ? -v : v);
                }
            }
        }

        return table;
    }

    private static short[] HalfScales()
    {
        short[] table = GC.AllocateArray<short>(256 * 16, pinned: true);
        for (int s = 0; s < 256; s++)
        {
            for (int j = 0; j < 16; j++)
            {
                table[(s * 16) + j] = (short)(1 + (2 * (j < 8 ? s & 0xF : s >> 4)));
            }
        }

        return table;
    }
}
