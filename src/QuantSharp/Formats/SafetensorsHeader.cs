using System.Text.Json;
using QuantSharp.Tensors;

namespace QuantSharp.Formats;

/// <summary>One tensor's entry in a safetensors header: byte range [<see cref="Begin"/>, <see cref="End"/>) of the data section.</summary>
internal readonly record struct SafetensorsEntry(string Name, DType DType, long[] Shape, long Begin, long End);

/// <summary>Writes the JSON header of a safetensors file: <c>__metadata__</c> (keys sorted) and one entry per tensor,
/// padded with spaces to a multiple of 8 bytes as the format requires.</summary>
internal static class SafetensorsHeader
{
    /// <summary>The header bytes (without the 8-byte length prefix).</summary>
    public static byte[] Build(IReadOnlyDictionary<string, string> metadata, IEnumerable<SafetensorsEntry> entries)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata.Count > 0)
            {
                json.WriteStartObject("__metadata__");
                foreach ((string k, string v) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    json.WriteString(k, v);
                }

                json.WriteEndObject();
            }

            foreach (SafetensorsEntry e in entries)
            {
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", DTypeInfo.Name(e.DType));
                json.WriteStartArray("shape");
                foreach (long d in e.Shape)
                {
                    json.WriteNumberValue(d);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(e.Begin);
                json.WriteNumberValue(e.End);
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        int padded = (int)((buffer.Length + 7) / 8 * 8);
        byte[] header = new byte[padded];
        buffer.ToArray().CopyTo(header, 0);
        header.AsSpan((int)buffer.Length).Fill((byte)' ');
        return header;
    }
}
