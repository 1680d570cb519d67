using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace QuantSharp.Formats;

/// <summary>NumPy's <c>.npy</c> format (version 1.0) for a little-endian float32 array, written atomically.</summary>
public static class NpyFile
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Writes <paramref name="values"/> (row-major, C order) with <paramref name="shape"/> to <paramref name="path"/>
    /// through a temporary sibling.</summary>
    /// <exception cref="ArgumentException">The shape does not hold exactly the values.</exception>
    public static void Write(string path, ReadOnlySpan<long> shape, ReadOnlySpan<float> values)
    {
        long count = 1;
        foreach (long d in shape)
        {
            count *= d;
        }

        if (count != values.Length)
        {
            throw new ArgumentException($"shape ({string.Join(", ", shape.ToArray())}) holds {count} values, not {values.Length}", nameof(values));
        }

        string dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape.ToArray().Select(d => d.ToString(CultureInfo.InvariantCulture)));
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        int unpadded = Magic.Length + 2 + 2 + dict.Length + 1;
        string header = dict + new string(' ', ((unpadded + 63) / 64 * 64) - unpadded) + "\n";
        byte[] bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        AtomicFile.Write(path, stream =>
        {
            stream.Write(Magic);
            stream.Write([1, 0]);
            Span<byte> length = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)header.Length);
            stream.Write(length);
            stream.Write(Encoding.ASCII.GetBytes(header));
            stream.Write(bytes);
        });
    }

    /// <summary>Reads a float32 <c>.npy</c> file written by <see cref="Write"/> (or NumPy, version 1.0, C order).</summary>
    /// <exception cref="QuantSharpException">Not such a file.</exception>
    public static (long[] Shape, float[] Values) Read(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        if (data.Length < 10 || !data.AsSpan(0, 6).SequenceEqual(Magic) || data[6] != 1)
        {
            throw new QuantSharpException($"{path}: not a version 1.0 .npy file");
        }

        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(8));
        if (10 + headerLength > data.Length)
        {
            throw new QuantSharpException($"{path}: header length {headerLength} runs past the end of the file");
        }

        string header = Encoding.ASCII.GetString(data, 10, headerLength);
        if (!header.Contains("'descr': '<f4'", StringComparison.Ordinal) || !header.Contains("'fortran_order': False", StringComparison.Ordinal))
        {
            throw new QuantSharpException($"{path}: only little-endian float32 arrays in C order are read (header {header.Trim()})");
        }

        long[] shape = Shape(header, path);
        long dataBytes = data.Length - 10 - headerLength;
        long count = 1;
        foreach (long d in shape)
        {
            // Compare before multiplying, so a hostile shape cannot overflow into a plausible count.
            if (d != 0 && count > long.MaxValue / 4 / d)
            {
                throw new QuantSharpException($"{path}: shape ({string.Join(", ", shape)}) overflows");
            }

            count *= d;
        }

        if (count * 4 != dataBytes)
        {
            throw new QuantSharpException($"{path}: shape ({string.Join(", ", shape)}) needs {count * 4} bytes of data, the file holds {dataBytes}");
        }

        float[] values = new float[count];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(10 + headerLength + (i * 4)));
        }

        return (shape, values);
    }

    /// <summary>The dimensions of the header's <c>'shape': (…)</c> tuple.</summary>
    private static long[] Shape(string header, string path)
    {
        int key = header.IndexOf("'shape':", StringComparison.Ordinal);
        int open = key < 0 ? -1 : header.IndexOf('(', key);
        int close = open < 0 ? -1 : header.IndexOf(')', open);
        if (close < 0)
        {
            throw new QuantSharpException($"{path}: the header has no 'shape': (…) tuple (header {header.Trim()})");
        }

        var shape = new List<long>();
        foreach (string part in header[(open + 1)..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long d))
            {
                throw new QuantSharpException($"{path}: shape entry '{part}' is not a non-negative integer");
            }

            shape.Add(d);
        }

        return [.. shape];
    }
}
