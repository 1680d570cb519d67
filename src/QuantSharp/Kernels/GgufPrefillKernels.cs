using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Kernels;

/// <summary>
/// Prefill (several tokens per call) for Q8_0, Q4_0, Q4_K and TQ2_0: a 4-row tile is unpacked once per call into one
/// unsigned code byte per weight, a float factor per 32-block and row (and for Q4_K the min factor), then every token
/// runs the same short loop: <c>vpdpbusd</c> of the codes with the activations, started from <c>−offset · Σx</c>,
/// converted and scaled — three vector operations per row and 32 weights instead of the per-type unpacking of
/// <see cref="GgufTileKernels"/>. Needs AVX-VNNI (Q8_0's codes w + 128 exceed <c>maddubs</c>'s range); each block's
/// integer dot equals <see cref="GgufKernels.DotScalar"/>'s, only the float accumulation order differs.
/// </summary>
[SkipLocalsInit]
internal static unsafe class GgufPrefillKernels
{
    /// <summary>True where this path runs: the type has a tile and the CPU has AVX-VNNI and FMA.</summary>
    public static bool Supported(GgmlType type) => AvxVnni.IsSupported && Fma.IsSupported && GgufTileKernels.HasTile(type);

    /// <summary>Bytes of tile scratch for rows of <paramref name="blocks32"/> 32-blocks.</summary>
    public static nuint TileBytes(int blocks32) => (nuint)(4L * blocks32 * 32 + 2L * 4 * blocks32 * sizeof(float));

    /// <summary>Unpacks rows <paramref name="w"/> + i · <paramref name="rowBytes"/> (i = 0..3) into <paramref name="tile"/>
    /// and returns the code offset (Σ (code − offset) · x is the block's integer dot).</summary>
    public static int Unpack4(GgmlType type, byte* w, long rowBytes, int blocks32, byte* tile)
    {
        byte* codes = tile;
        float* factors = (float*)(tile + 4L * blocks32 * 32);
        float* mins = factors + 4L * blocks32;
        long stride = (long)blocks32 * 32;
        Vector256<byte> low4 = Vector256.Create((byte)0x0F);
        for (int r = 0; r < 4; r++)
        {
            byte* row = w + r * rowBytes;
            byte* o = codes + r * stride;
            switch (type)
            {
                case GgmlType.Q8_0:
                    for (int b = 0; b < blocks32; b++)
                    {
                        var blk = (BlockQ8_0*)row + b;
                        Avx.Store(o + 32 * b, Avx.LoadVector256((byte*)blk->Qs) ^ Vector256.Create((byte)0x80));
                        factors[4 * b + r] = GgufKernels.HalfToSingle(blk->D);
                    }

                    break;
                case GgmlType.Q4_0:
                    for (int b = 0; b < blocks32; b++)
                    {
                        var blk = (BlockQ4_0*)row + b;
                        Vector256<uint> both = Avx2.BroadcastVector128ToVector256(blk->Qs).AsUInt32();
                        Avx.Store(o + 32 * b, Avx2.ShiftRightLogicalVariable(both, Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4)).AsByte() & low4);
                        factors[4 * b + r] = GgufKernels.HalfToSingle(blk->D);
                    }

                    break;
                case GgmlType.Q4_K:
                    for (int i = 0; i < blocks32 / 8; i++)
                    {
                        var blk = (BlockQ4_K*)row + i;
                        float d = GgufKernels.HalfToSingle(blk->D), dmin = GgufKernels.HalfToSingle(blk->DMin);
                        for (int c = 0; c < 4; c++)
                        {
                            Vector256<byte> q = Avx.LoadVector256(blk->Qs + 32 * c);
                            int b = 8 * i + 2 * c;
                            Avx.Store(o + 32 * b, q & low4);
                            Avx.Store(o + 32 * (b + 1), Avx2.ShiftRightLogical(q.AsUInt16(), 4).AsByte() & low4);
                        }

                        for (int s = 0; s < 8; s++)
                        {
                            GgufDequantize.ScaleMinK4(s, blk->Scales, out int sc, out int m);
                            factors[4 * (8 * i + s) + r] = d * sc;
                            mins[4 * (8 * i + s) + r] = dmin * m;
                        }
                    }

                    break;
                case GgmlType.TQ2_0:
                    for (int i = 0; i < blocks32 / 8; i++)
                    {
                        var blk = (BlockTQ2_0*)row + i;
                        float d = GgufKernels.HalfToSingle(blk->D);
                        for (int c = 0; c < 2; c++)
                        {
                            Vector256<ushort> packed = Avx.LoadVector256(blk->Qs + 32 * c).AsUInt16();
                            for (int n = 0; n < 4; n++)
                            {
                                int b = 8 * i + 4 * c + n;
                                Avx.Store(o + 32 * b, Avx2.ShiftRightLogical(packed, Vector128.CreateScalar((ushort)(2 * n))).AsByte() & Vector256.Create((byte)3));
                                factors[4 * b + r] = d;
                            }
                        }
                    }

                    break;
                default:
                    throw new NotSupportedException(type.ToString());
            }
        }

        return type switch { GgmlType.Q8_0 => 128, GgmlType.Q4_0 => 8, GgmlType.TQ2_0 => 1, _ => 0 };
    }

    /// <summary>The four rows of a tile from <see cref="Unpack4"/> times one token's activations into
    /// <paramref name="result"/>[0..3]; <paramref name="withMins"/> for Q4_K.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* tile, int blocks32, int offset, bool withMins, in GgufActivations x, float* result)
    {
        long stride = (long)blocks32 * 32;
        byte* p0 = tile, p1 = tile + stride, p2 = p1 + stride, p3 = p2 + stride;
        float* factors = (float*)(tile + 4 * stride);
        float* mins = factors + 4L * blocks32;
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector128<float> minAcc = default;
        for (int b = 0; b < blocks32; b++)
        {
            int o = 32 * b;
            Vector256<sbyte> qv = Avx.LoadVector256(x.Q + o);
            Vector256<int> neg = Vector256.CreateScalar(-offset * x.Sum[b]);
            float dx = x.Scale[b];
            Vector128<float> f4 = Sse.LoadVector128(factors + 4 * b) * dx;
            Vector256<float> f8 = Vector256.Create(f4, f4);
            acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(neg, Avx.LoadVector256(p0 + o), qv)), Avx.Permute(f8, 0b00_00_00_00), acc0);
            acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(neg, Avx.LoadVector256(p1 + o), qv)), Avx.Permute(f8, 0b01_01_01_01), acc1);
            acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(neg, Avx.LoadVector256(p2 + o), qv)), Avx.Permute(f8, 0b10_10_10_10), acc2);
            acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(neg, Avx.LoadVector256(p3 + o), qv)), Avx.Permute(f8, 0b11_11_11_11), acc3);
            if (withMins)
            {
                minAcc = Fma.MultiplyAdd(Sse.LoadVector128(mins + 4 * b), Vector128.Create(dx * x.Sum[b]), minAcc);
            }
        }

        result[0] = Vector256.Sum(acc0) - minAcc.GetElement(0);
        result[1] = Vector256.Sum(acc1) - minAcc.GetElement(1);
        result[2] = Vector256.Sum(acc2) - minAcc.GetElement(2);
        result[3] = Vector256.Sum(acc3) - minAcc.GetElement(3);
    }
}
