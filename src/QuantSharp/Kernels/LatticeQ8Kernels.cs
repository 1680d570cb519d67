using System.Runtime.InteropServices;
using QuantSharp.Formats.Gguf;
using QuantSharp.Quantization.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Decode kernels of the lattice types (IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S) on int8 activations
/// (<see cref="ActivationQuantizer"/>, one scale per 32 inputs), as llama.cpp multiplies them against its Q8_K blocks.
/// Per 32 weights the grid points are read as bytes with 8-byte (IQ2, IQ3_XXS in pairs) or 4-byte (IQ3_S) loads and
/// their signs applied to the activations (<c>vpsignb</c> with a ±1 byte pattern per sign byte) — IQ2_XS instead reads
/// already signed points, its whole 16-bit entry indexing a 512 KiB table; <c>maddubs</c> multiplies points and
/// activations, <c>madd</c> applies the integer group scales (2s+1), and one convert and one FMA by
/// <c>d_block · d_activations</c> add the 32 weights to the sum. Reference: <see cref="DotReference"/>.
/// </summary>
internal static unsafe class LatticeQ8Kernels
{
    // IQ2_S and IQ3_S grid points as bytes, and sign byte s → 8 bytes, byte j = −1 where bit j of s is set, else +1.
    private static readonly byte[] s_iq2sGrid = LatticeKernels.PinnedCopy(GgufLatticeGrids.Iq2s);
    private static readonly byte[] s_iq3sGrid = LatticeKernels.PinnedCopy(GgufLatticeGrids.Iq3s);
    private static readonly ulong[] s_signBytesTable = SignBytes();

    // The same for 7 stored sign bits, the 8th being their parity (GgufLatticeGrids.Signs).
    private static readonly ulong[] s_paritySignBytesTable = ParitySignBytes();

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
        ulong* signedGrid = (ulong*)Ptr(LargeTables.Iq2XsSignedGrid);
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
        ulong* grid = (ulong*)Ptr(s_iq2sGrid);
        ulong* signs = (ulong*)Ptr(s_signBytesTable);
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
                acc0 = UnsignedThirtyTwo(Iq2SPoints(grid, qs, qh[b]), SignPatterns(signs, qs + 32), q + (32 * b), Vector256.Load(scales + (16 * sc[b])), db * d[b], acc0);
                acc1 = UnsignedThirtyTwo(Iq2SPoints(grid, qs + 4, qh[b + 1]), SignPatterns(signs, qs + 36), q + (32 * (b + 1)), Vector256.Load(scales + (16 * sc[b + 1])), db * d[b + 1], acc1);
            }
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>Four IQ2_S grid points (8 bytes each): 10-bit indices, 8 bits in qs and 2 in qh. (Its 1,024 points ×
    /// 256 sign bytes are too many for a signed table, so the signs go onto the activations instead.)</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Iq2SPoints(ulong* grid, byte* qs, int h)
        => Vector256.Create(grid[qs[0] | ((h << 8) & 0x300)], grid[qs[1] | ((h << 6) & 0x300)], grid[qs[2] | ((h << 4) & 0x300)], grid[qs[3] | ((h << 2) & 0x300)]).AsByte();

    /// <summary>The ±1 bytes of four sign bytes (IQ2_S, IQ3_S).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> SignPatterns(ulong* signs, byte* s) => Vector256.Create(signs[s[0]], signs[s[1]], signs[s[2]], signs[s[3]]).AsSByte();

    /// <summary><see cref="SignedThirtyTwo"/> for unsigned grid points and ±1 sign bytes: <c>maddubs(w, sign · q)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> UnsignedThirtyTwo(Vector256<byte> points, Vector256<sbyte> signs, sbyte* q, Vector256<short> scales, float factor, Vector256<float> acc)
    {
        Vector256<int> dot = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(points, Avx2.Sign(Avx.LoadVector256(q), signs)), scales);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(dot), Vector256.Create(factor), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Iq3Xxs(byte* row, int blocks, sbyte* q, float* d)
    {
        ulong* pairs = (ulong*)Ptr(LargeTables.Iq3XxsPairs);
        ulong* signs = (ulong*)Ptr(s_paritySignBytesTable);
        Vector256<float> acc0 = default, acc1 = default;
        var x = (BlockIQ3_XXS*)row;
        for (int i = 0; i < blocks; i++, q += 256, d += 8)
        {
            float db = GgufKernels.HalfToSingle(x[i].D) * 0.25f;
            ushort* qs = (ushort*)x[i].Qs;
            uint* packed = (uint*)(x[i].Qs + 64);
            for (int b = 0; b < 8; b += 2, qs += 8)
            {
                // Two 8-bit grid indices (one 16-bit read) per 8 weights; a 32-bit word per 32 weights holds four 7-bit
                // sign groups (the 8th sign is their parity) and the 4-bit scale.
                uint p0 = packed[b], p1 = packed[b + 1];
                acc0 = UnsignedThirtyTwo(Iq3XxsPoints(pairs, qs), Iq3XxsSigns(signs, p0), q + (32 * b), Vector256.Create((short)(1 + (2 * (int)(p0 >> 28)))), db * d[b], acc0);
                acc1 = UnsignedThirtyTwo(Iq3XxsPoints(pairs, qs + 4), Iq3XxsSigns(signs, p1), q + (32 * (b + 1)), Vector256.Create((short)(1 + (2 * (int)(p1 >> 28)))), db * d[b + 1], acc1);
            }
        }

        return Vector256.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Iq3XxsPoints(ulong* pairs, ushort* qs) => Vector256.Create(pairs[qs[0]], pairs[qs[1]], pairs[qs[2]], pairs[qs[3]]).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Iq3XxsSigns(ulong* signs, uint packed)
        => Vector256.Create(signs[packed & 127], signs[(packed >> 7) & 127], signs[(packed >> 14) & 127], signs[(packed >> 21) & 127]).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Iq3S(byte* row, int blocks, sbyte* q, float* d)
    {
        uint* grid = (uint*)Ptr(s_iq3sGrid);
        ulong* signs = (ulong*)Ptr(s_signBytesTable);
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
                acc0 = UnsignedThirtyTwo(Iq3SGrid(grid, qs, qh[b]), SignPatterns(signs, sg), q + (32 * b), Vector256.Create((short)(1 + (2 * (scales & 0xF)))), db * d[b], acc0);
                acc1 = UnsignedThirtyTwo(Iq3SGrid(grid, qs + 8, qh[b + 1]), SignPatterns(signs, sg + 4), q + (32 * (b + 1)), Vector256.Create((short)(1 + (2 * (scales >> 4)))), db * d[b + 1], acc1);
            }
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>Eight IQ3_S grid points (4 bytes each): 9-bit indices, 8 bits in qs and the 9th in qh.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Iq3SGrid(uint* grid, byte* qs, int h)
        => Vector256.Create(
            grid[qs[0] | ((h << 8) & 256)], grid[qs[1] | ((h << 7) & 256)], grid[qs[2] | ((h << 6) & 256)], grid[qs[3] | ((h << 5) & 256)],
            grid[qs[4] | ((h << 4) & 256)], grid[qs[5] | ((h << 3) & 256)], grid[qs[6] | ((h << 2) & 256)], grid[qs[7] | ((h << 1) & 256)]).AsByte();

    private static byte* Ptr<T>(T[] pinned)
        where T : unmanaged
        => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));

    private static ulong[] SignBytes()
    {
        ulong[] table = GC.AllocateArray<ulong>(256, pinned: true);
        for (int s = 0; s < 256; s++)
        {
            for (int j = 0; j < 8; j++)
            {
                table[s] |= (ulong)((s & (1 << j)) != 0 ? 0xFF : 0x01) << (8 * j);
            }
        }

        return table;
    }

    /// <summary>The half-megabyte tables, built on first use of their type.</summary>
    private static class LargeTables
    {
        // IQ2_XS: a whole 16-bit entry (9-bit index | 7 sign bits << 9) → its 8 signed grid points (512 KiB).
        internal static readonly sbyte[] Iq2XsSignedGrid = SignedGrid(GgufLatticeGrids.Iq2xs);

        // IQ3_XXS: two 8-bit grid indices (a 16-bit read) → their 8 grid bytes (512 KiB).
        internal static readonly byte[] Iq3XxsPairs = Pairs(GgufLatticeGrids.Iq3xxs);

        private static sbyte[] SignedGrid(byte[] grid)
        {
            sbyte[] table = GC.AllocateArray<sbyte>(65536 * 8, pinned: true);
            for (int e = 0; e < 65536; e++)
            {
                int signs = GgufLatticeGrids.Signs[e >> 9];
                for (int j = 0; j < 8; j++)
                {
                    int v = grid[(8 * (e & 511)) + j];
                    table[(8 * e) + j] = (sbyte)((signs & (1 << j)) != 0 ? -v : v);
                }
            }

            return table;
        }

        private static byte[] Pairs(byte[] grid)
        {
            byte[] table = GC.AllocateArray<byte>(65536 * 8, pinned: true);
            for (int e = 0; e < 65536; e++)
            {
                for (int j = 0; j < 4; j++)
                {
                    table[(8 * e) + j] = grid[(4 * (e & 255)) + j];
                    table[(8 * e) + 4 + j] = grid[(4 * (e >> 8)) + j];
                }
            }

            return table;
        }
    }

    private static ulong[] ParitySignBytes()
    {
        ulong[] table = GC.AllocateArray<ulong>(128, pinned: true);
        for (int s = 0; s < 128; s++)
        {
            table[s] = s_signBytesTable[GgufLatticeGrids.Signs[s]];
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
