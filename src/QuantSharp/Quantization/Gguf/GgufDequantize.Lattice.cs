using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Gguf;

/// <summary>Dequantizers of the lattice-grid types (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S); layouts on
/// the <c>Block*</c> structs in <c>GgufLatticeBlocks.cs</c>, products in ggml's order so results are bit-identical.</summary>
public static unsafe partial class GgufDequantize
{
    private const float Iq1Delta = 0.125f;

    internal static void IQ2_XXS(BlockIQ2_XXS* x, float* y, int blocks)
    {
        byte[] grid = GgufLatticeGrids.Iq2xxs, signs = GgufLatticeGrids.Signs;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int b = 0; b < 8; b++)
            {
                byte* indices = (byte*)(x[i].Qs + (4 * b));
                uint a1 = *(uint*)(indices + 4);
                float db = d * (0.5f + (a1 >> 28)) * 0.25f;
                for (int l = 0; l < 4; l++, y += 8)
                {
                    Signed8(y, db, grid, 8 * indices[l], signs[(a1 >> (7 * l)) & 127]);
                }
            }
        }
    }

    internal static void IQ2_XS(BlockIQ2_XS* x, float* y, int blocks)
    {
        byte[] grid = GgufLatticeGrids.Iq2xs, signs = GgufLatticeGrids.Signs;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int b = 0; b < 8; b++)
            {
                for (int l = 0; l < 4; l++, y += 8)
                {
                    int q = x[i].Qs[(4 * b) + l];
                    Signed8(y, d * (0.5f + ((x[i].Scales[b] >> (4 * (l / 2))) & 0xF)) * 0.25f, grid, 8 * (q & 511), signs[q >> 9]);
                }
            }
        }
    }

    internal static void IQ2_S(BlockIQ2_S* x, float* y, int blocks)
    {
        byte[] grid = GgufLatticeGrids.Iq2s;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int b = 0; b < 8; b++)
            {
                for (int l = 0; l < 4; l++, y += 8)
                {
                    int g = (4 * b) + l;
                    int index = x[i].Qs[g] | ((x[i].Qh[b] << (8 - (2 * l))) & 0x300);
                    Signed8(y, d * (0.5f + ((x[i].Scales[b] >> (4 * (l / 2))) & 0xF)) * 0.25f, grid, 8 * index, x[i].Qs[32 + g]);
                }
            }
        }
    }

    internal static void IQ3_XXS(BlockIQ3_XXS* x, float* y, int blocks)
    {
        byte[] grid = GgufLatticeGrids.Iq3xxs, signs = GgufLatticeGrids.Signs;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int b = 0; b < 8; b++)
            {
                uint packed = *(uint*)(x[i].Qs + 64 + (4 * b));
                float db = d * (0.5f + (packed >> 28)) * 0.5f;
                for (int l = 0; l < 4; l++, y += 8)
                {
                    byte s = signs[(packed >> (7 * l)) & 127];
                    Signed4(y, db, grid, 4 * x[i].Qs[(8 * b) + (2 * l)], s);
                    Signed4(y + 4, db, grid, 4 * x[i].Qs[(8 * b) + (2 * l) + 1], s >> 4);
                }
            }
        }
    }

    internal static void IQ3_S(BlockIQ3_S* x, float* y, int blocks)
    {
        byte[] grid = GgufLatticeGrids.Iq3s;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int b = 0; b < 8; b++)
            {
                float db = d * (1 + (2 * ((x[i].Scales[b / 2] >> (4 * (b % 2))) & 0xF)));
                for (int l = 0; l < 4; l++, y += 8)
                {
                    int k = (8 * b) + (2 * l);
                    int high = x[i].Qh[b];
                    byte s = x[i].Signs[(4 * b) + l];
                    Signed4(y, db, grid, 4 * (x[i].Qs[k] | ((high << (8 - (2 * l))) & 256)), s);
                    Signed4(y + 4, db, grid, 4 * (x[i].Qs[k + 1] | ((high << (7 - (2 * l))) & 256)), s >> 4);
                }
            }
        }
    }

    internal static void IQ1_S(BlockIQ1_S* x, float* y, int blocks)
    {
        byte[] grid = GgufLatticeGrids.Iq1s;
        for (int i = 0; i < blocks; i++)
        {
            float d = (float)x[i].D;
            for (int b = 0; b < 8; b++)
            {
                int qh = x[i].Qh[b];
                float dl = d * ((2 * ((qh >> 12) & 7)) + 1);
                float delta = (qh & 0x8000) != 0 ? -Iq1Delta : Iq1Delta;
                for (int l = 0; l < 4; l++, y += 8)
                {
                    Shifted8(y, dl, grid, 8 * (x[i].Qs[(4 * b) + l] | (((qh >> (3 * l)) & 7) << 8)), delta);
                }
            }
        }
    }

    internal static void IQ1_M(BlockIQ1_M* x, float* y, int blocks)
    {
        byte[] grid = GgufLatticeGrids.Iq1s;
        for (int i = 0; i < blocks; i++)
        {
            ushort* sc = (ushort*)x[i].Scales;
            ushort bits = (ushort)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
            float d = (float)BitConverter.UInt16BitsToHalf(bits);
            for (int b = 0; b < 8; b++)
            {
                for (int l = 0; l < 4; l++, y += 8)
                {
                    int scale = (sc[b / 2] >> ((6 * (b % 2)) + (3 * (l / 2)))) & 7;
                    int nibble = x[i].Qh[(2 * b) + (l / 2)] >> (4 * (l % 2));
                    float delta = (nibble & 8) != 0 ? -Iq1Delta : Iq1Delta;
                    Shifted8(y, d * ((2 * scale) + 1), grid, 8 * (x[i].Qs[(4 * b) + l] | ((nibble & 7) << 8)), delta);
                }
            }
        }
    }

    // y[j] = scale · grid[at + j], negated where bit j of signs is set.
    private static void Signed8(float* y, float scale, byte[] grid, int at, int signs)
    {
        for (int j = 0; j < 8; j++)
        {
            y[j] = scale * grid[at + j] * ((signs & (1 << j)) != 0 ? -1f : 1f);
        }
    }

    private static void Signed4(float* y, float scale, byte[] grid, int at, int signs)
    {
        for (int j = 0; j < 4; j++)
        {
            y[j] = scale * grid[at + j] * ((signs & (1 << j)) != 0 ? -1f : 1f);
        }
    }

    // y[j] = scale · (grid[at + j] + delta), the grid holding −1, 0, 1 as two's-complement bytes.
    private static void Shifted8(float* y, float scale, byte[] grid, int at, float delta)
    {
        for (int j = 0; j < 8; j++)
        {
            y[j] = scale * ((sbyte)grid[at + j] + delta);
        }
    }
}
