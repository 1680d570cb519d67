using QuantSharp.Quantization.Gguf;
using System.Runtime.InteropServices;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Decode kernels of the lattice types (IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S) on float activations. One loop per type walks
/// a row's blocks and yields each group of 8 as a vector of its signed grid values (grid entry as floats, signs applied
/// by XOR-ing the float sign bit from a 256-pattern table) and its group scale; a sink either dots the group with the
/// activations or writes it out. Reference: <see cref="GgufDequantize"/> followed by a plain dot product.
/// </summary>
internal static unsafe class LatticeKernels
{
    // The tables live on the pinned heap and stay referenced by these fields; the kernels read them through pointers.
    private static readonly float[] s_iq2xsTable = Floats(GgufLatticeGrids.Iq2xs);
    private static readonly float[] s_iq2sTable = Floats(GgufLatticeGrids.Iq2s);
    private static readonly float[] s_iq3xxsTable = Floats(GgufLatticeGrids.Iq3xxs);
    private static readonly float[] s_iq3sTable = Floats(GgufLatticeGrids.Iq3s);

    // Bit j of byte s set → element j of pattern s is the float sign bit.
    private static readonly uint[] s_signMaskTable = SignMasks();

    private static float* s_iq2xs => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s_iq2xsTable));

    private static float* s_iq2s => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s_iq2sTable));

    private static float* s_iq3xxs => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s_iq3xxsTable));

    private static float* s_iq3s => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s_iq3sTable));

    // GgufLatticeGrids.Signs (the 8th sign from 7 stored ones), pinned.
    private static readonly byte[] s_parityTable = PinnedCopy(GgufLatticeGrids.Signs);

    private static byte* s_parity => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s_parityTable));

    private static uint* s_signMasks => (uint*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s_signMaskTable));

    /// <summary>True for the types these kernels run.</summary>
    public static bool Handles(GgmlType type) => Quantization.LatticeFormat.For(type) is not null;

    /// <summary>Σ_j w_j·x_j over one row of <paramref name="cols"/> weights stored as <paramref name="type"/> blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(GgmlType type, byte* row, float* x, int cols)
    {
        var sink = new DotSink { X = x };
        Walk(type, row, cols, ref sink);
        return Vector256.Sum(sink.Acc0 + sink.Acc1);
    }

    /// <summary>Writes one row of <paramref name="cols"/> weights as floats (the same values as <see cref="GgufDequantize"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dequantize(GgmlType type, byte* row, float* y, int cols)
    {
        var sink = new StoreSink { Y = y };
        Walk(type, row, cols, ref sink);
    }

    private interface ISink
    {
        /// <summary>Weights 32s…32s+31 of the row as four groups of signed grid values; the first two groups scaled by
        /// <paramref name="db01"/>, the last two by <paramref name="db23"/>.</summary>
        void Four(int s, Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3, float db01, float db23);
    }

    private struct DotSink : ISink
    {
        public float* X;
        public Vector256<float> Acc0;
        public Vector256<float> Acc1;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Four(int s, Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3, float db01, float db23)
        {
            float* x = X + (32 * s);
            Vector256<float> p = Vector256.FusedMultiplyAdd(v1, Vector256.Load(x + 8), v0 * Vector256.Load(x));
            Vector256<float> q = Vector256.FusedMultiplyAdd(v3, Vector256.Load(x + 24), v2 * Vector256.Load(x + 16));
            Acc0 = Vector256.FusedMultiplyAdd(p, Vector256.Create(db01), Acc0);
            Acc1 = Vector256.FusedMultiplyAdd(q, Vector256.Create(db23), Acc1);
        }
    }

    private struct StoreSink : ISink
    {
        public float* Y;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Four(int s, Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3, float db01, float db23)
        {
            float* y = Y + (32 * s);
            (v0 * Vector256.Create(db01)).Store(y);
            (v1 * Vector256.Create(db01)).Store(y + 8);
            (v2 * Vector256.Create(db23)).Store(y + 16);
            (v3 * Vector256.Create(db23)).Store(y + 24);
        }
    }

    private static void Walk<TSink>(GgmlType type, byte* row, int cols, ref TSink sink)
        where TSink : struct, ISink
    {
        switch (type)
        {
            case GgmlType.IQ2_XS: Iq2Xs(row, cols / 256, ref sink); break;
            case GgmlType.IQ2_S: Iq2S(row, cols / 256, ref sink); break;
            case GgmlType.IQ3_XXS: Iq3Xxs(row, cols / 256, ref sink); break;
            case GgmlType.IQ3_S: Iq3S(row, cols / 256, ref sink); break;
            default: throw new NotSupportedException($"{type} is not a lattice type");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Signed8(float* entry, uint* masks, int signs)
        => Vector256.Xor(Vector256.Load(entry).AsUInt32(), Vector256.Load(masks + (8 * signs))).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Signed4x2(float* low, float* high, uint* masks, int signs)
        => Vector256.Xor(Vector256.Create(Vector128.Load(low), Vector128.Load(high)).AsUInt32(), Vector256.Load(masks + (8 * signs))).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Iq2Xs<TSink>(byte* row, int blocks, ref TSink sink)
        where TSink : struct, ISink
    {
        float* grid = s_iq2xs;
        uint* masks = s_signMasks;
        byte* parity = s_parity;
        var x = (BlockIQ2_XS*)row;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            ushort* qs = x[i].Qs;
            for (int b = 0; b < 8; b++, qs += 4)
            {
                int sc = x[i].Scales[b];
                sink.Four((8 * i) + b,
                    Signed8(grid + (8 * (qs[0] & 511)), masks, parity[qs[0] >> 9]),
                    Signed8(grid + (8 * (qs[1] & 511)), masks, parity[qs[1] >> 9]),
                    Signed8(grid + (8 * (qs[2] & 511)), masks, parity[qs[2] >> 9]),
                    Signed8(grid + (8 * (qs[3] & 511)), masks, parity[qs[3] >> 9]),
                    d * (0.5f + (sc & 0xF)) * 0.25f, d * (0.5f + (sc >> 4)) * 0.25f);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Iq2S<TSink>(byte* row, int blocks, ref TSink sink)
        where TSink : struct, ISink
    {
        float* grid = s_iq2s;
        uint* masks = s_signMasks;
        var x = (BlockIQ2_S*)row;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            byte* qs = x[i].Qs;
            for (int b = 0; b < 8; b++, qs += 4)
            {
                int sc = x[i].Scales[b], h = x[i].Qh[b];
                sink.Four((8 * i) + b,
                    Signed8(grid + (8 * (qs[0] | ((h << 8) & 0x300))), masks, qs[32]),
                    Signed8(grid + (8 * (qs[1] | ((h << 6) & 0x300))), masks, qs[33]),
                    Signed8(grid + (8 * (qs[2] | ((h << 4) & 0x300))), masks, qs[34]),
                    Signed8(grid + (8 * (qs[3] | ((h << 2) & 0x300))), masks, qs[35]),
                    d * (0.5f + (sc & 0xF)) * 0.25f, d * (0.5f + (sc >> 4)) * 0.25f);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Iq3Xxs<TSink>(byte* row, int blocks, ref TSink sink)
        where TSink : struct, ISink
    {
        float* grid = s_iq3xxs;
        uint* masks = s_signMasks;
        byte* parity = s_parity;
        var x = (BlockIQ3_XXS*)row;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            byte* q = x[i].Qs;
            for (int b = 0; b < 8; b++, q += 8)
            {
                uint packed = *(uint*)(x[i].Qs + 64 + (4 * b));
                float db = d * (0.5f + (packed >> 28)) * 0.5f;
                sink.Four((8 * i) + b,
                    Signed4x2(grid + (4 * q[0]), grid + (4 * q[1]), masks, parity[packed & 127]),
                    Signed4x2(grid + (4 * q[2]), grid + (4 * q[3]), masks, parity[(packed >> 7) & 127]),
                    Signed4x2(grid + (4 * q[4]), grid + (4 * q[5]), masks, parity[(packed >> 14) & 127]),
                    Signed4x2(grid + (4 * q[6]), grid + (4 * q[7]), masks, parity[(packed >> 21) & 127]),
                    db, db);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Iq3S<TSink>(byte* row, int blocks, ref TSink sink)
        where TSink : struct, ISink
    {
        float* grid = s_iq3s;
        uint* masks = s_signMasks;
        var x = (BlockIQ3_S*)row;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            byte* q = x[i].Qs;
            byte* signs = x[i].Signs;
            for (int b = 0; b < 8; b++, q += 8, signs += 4)
            {
                float db = d * (1 + (2 * ((x[i].Scales[b / 2] >> (4 * (b % 2))) & 0xF)));
                int h = x[i].Qh[b];
                sink.Four((8 * i) + b,
                    Signed4x2(grid + (4 * (q[0] | ((h << 8) & 256))), grid + (4 * (q[1] | ((h << 7) & 256))), masks, signs[0]),
                    Signed4x2(grid + (4 * (q[2] | ((h << 6) & 256))), grid + (4 * (q[3] | ((h << 5) & 256))), masks, signs[1]),
                    Signed4x2(grid + (4 * (q[4] | ((h << 4) & 256))), grid + (4 * (q[5] | ((h << 3) & 256))), masks, signs[2]),
                    Signed4x2(grid + (4 * (q[6] | ((h << 2) & 256))), grid + (4 * (q[7] | ((h << 1) & 256))), masks, signs[3]),
                    db, db);
            }
        }
    }

    /// <summary>A copy of <paramref name="source"/> on the pinned heap, for pointer reads in the kernels.</summary>
    internal static byte[] PinnedCopy(byte[] source)
    {
        byte[] copy = GC.AllocateArray<byte>(source.Length, pinned: true);
        source.CopyTo(copy, 0);
        return copy;
    }

    private static float[] Floats(byte[] grid)
    {
        float[] values = GC.AllocateArray<float>(grid.Length, pinned: true);
        for (int i = 0; i < grid.Length; i++)
        {
            values[i] = grid[i];
        }

        return values;
    }

    private static uint[] SignMasks()
    {
        uint[] masks = GC.AllocateArray<uint>(256 * 8, pinned: true);
        for (int s = 0; s < 256; s++)
        {
            for (int j = 0; j < 8; j++)
            {
                masks[(s * 8) + j] = (s & (1 << j)) != 0 ? 0x8000_0000u : 0;
            }
        }

        return masks;
    }
}
