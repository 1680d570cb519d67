namespace QuantSharp.Tokenizers;

/// <summary>
/// GPT-2's reversible map between the 256 byte values and printable characters (<c>bytes_to_unicode</c>): bytes
/// '!'..'~', '¡'..'¬' and '®'..'ÿ' map to themselves, the other 68 to U+0100 upward in byte order. Byte-level BPE
/// vocabularies (GPT-2, Llama 3, Qwen2, tokenizer.json "ByteLevel") store their tokens in this alphabet.
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] s_charOfByte = BuildCharOfByte();
    private static readonly short[] s_byteOfChar = BuildByteOfChar();

    /// <summary>The character that stands for <paramref name="b"/>.</summary>
    public static char CharOf(byte b) => s_charOfByte[b];

    /// <summary>The byte a character stands for, or -1 if it is not in the alphabet.</summary>
    public static int ByteOf(char c) => c < s_byteOfChar.Length ? s_byteOfChar[c] : -1;

    /// <summary>Maps UTF-8 bytes to alphabet characters.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length, bytes.ToArray(), static (span, data) =>
        {
            for (int i = 0; i < data.Length; i++)
            {
                span[i] = s_charOfByte[data[i]];
            }
        });
    }

    /// <summary>Appends the bytes a string of alphabet characters stands for; false if a character is outside the alphabet.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, List<byte> destination)
    {
        foreach (char c in text)
        {
            if (ByteOf(c) < 0)
            {
                return false;
            }
        }

        foreach (char c in text)
        {
            destination.Add((byte)ByteOf(c));
        }

        return true;
    }

    private static char[] BuildCharOfByte()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    private static short[] BuildByteOfChar()
    {
        var map = new short[512];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++)
        {
            map[s_charOfByte[b]] = (short)b;
        }

        return map;
    }
}
