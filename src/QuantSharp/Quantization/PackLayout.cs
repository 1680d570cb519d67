namespace QuantSharp.Quantization;

/// <summary>
/// The sub-byte layouts shared by the packed schemes. A row of <c>cols</c> codes is cut into chunks of 32 codes
/// (the last chunk padded with a caller-chosen code that dequantizes to exactly 0).
/// <list type="bullet">
/// <item>4-bit: a chunk is 16 bytes; byte <c>j</c> (0..15) holds code <c>j</c> in bits 0–3 and code <c>j + 16</c> in bits 4–7.</item>
/// <item>2-bit: a chunk is 8 bytes; byte <c>j</c> (0..7) holds code <c>j + 8k</c> in bits <c>2k..2k+1</c>, k = 0..3.</item>
/// </list>
/// Why not pair neighbours in a byte: with this order one 16-byte load split into low and high nibbles (or one
/// 8-byte load shifted by 0/2/4/6 per 64-bit lane) yields the 32 codes in order, with no interleaving shuffle.
/// </summary>
public static class PackLayout
{
    /// <summary>Codes per chunk.</summary>
    public const int Chunk = 32;

    /// <summary>Chunks in a row of <paramref name="cols"/> codes.</summary>
    public static int Chunks(int cols) => (cols + Chunk - 1) / Chunk;

    /// <summary>Bytes of one packed 4-bit row.</summary>
    public static int RowBytes4(int cols) => Chunks(cols) * 16;

    /// <summary>Bytes of one packed 2-bit row.</summary>
    public static int RowBytes2(int cols) => Chunks(cols) * 8;

    /// <summary>Packs 4-bit <paramref name="codes"/> (values 0..15) into <see cref="RowBytes4"/> bytes; positions past the end get <paramref name="pad"/>.</summary>
    public static void Pack4(ReadOnlySpan<byte> codes, Span<byte> destination, byte pad)
    {
        int chunks = Chunks(codes.Length);
        for (int c = 0; c < chunks; c++)
        {
            int b = c * Chunk;
            for (int j = 0; j < 16; j++)
            {
                int lo = b + j < codes.Length ? codes[b + j] : pad;
                int hi = b + j + 16 < codes.Length ? codes[b + j + 16] : pad;
                destination[c * 16 + j] = (byte)((lo & 0xF) | ((hi & 0xF) << 4));
            }
        }
    }

    /// <summary>Unpacks the first <c>destination.Length</c> 4-bit codes of a packed row.</summary>
    public static void Unpack4(ReadOnlySpan<byte> packed, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = Code4(packed, i);
        }
    }

    /// <summary>4-bit code <paramref name="index"/> of a packed row.</summary>
    public static byte Code4(ReadOnlySpan<byte> packed, int index)
    {
        int c = index >> 5, j = index & 31;
        byte b = packed[(c * 16) + (j & 15)];
        return (byte)(j < 16 ? b & 0xF : b >> 4);
    }

    /// <summary>Packs 2-bit <paramref name="codes"/> (values 0..3) into <see cref="RowBytes2"/> bytes; positions past the end get <paramref name="pad"/>.</summary>
    public static void Pack2(ReadOnlySpan<byte> codes, Span<byte> destination, byte pad)
    {
        int chunks = Chunks(codes.Length);
        for (int c = 0; c < chunks; c++)
        {
            int b = c * Chunk;
            for (int j = 0; j < 8; j++)
            {
                int v = 0;
                for (int k = 0; k < 4; k++)
                {
                    int i = b + j + (8 * k);
                    v |= ((i < codes.Length ? codes[i] : pad) & 3) << (2 * k);
                }

                destination[c * 8 + j] = (byte)v;
            }
        }
    }

    /// <summary>2-bit code <paramref name="index"/> of a packed row.</summary>
    public static byte Code2(ReadOnlySpan<byte> packed, int index)
    {
        int c = index >> 5, j = index & 31;
        return (byte)((packed[(c * 8) + (j & 7)] >> (2 * (j >> 3))) & 3);
    }

    /// <summary>Unpacks the first <c>destination.Length</c> 2-bit codes of a packed row.</summary>
    public static void Unpack2(ReadOnlySpan<byte> packed, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = Code2(packed, i);
        }
    }
}
