using System.Buffers.Binary;
using System.Text;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// Writes a GGUF v3 file: add metadata with <see cref="Add(string, GgufValue)"/> (or the typed shortcuts), add
/// tensors with <see cref="AddTensor"/> (their bytes go to a temporary data file at once, so a model can be streamed
/// through), then <see cref="Commit"/> writes header and data to <c>path.*.tmp</c> and renames it into place. Tensor
/// data is padded with zeros to <see cref="Alignment"/> (32 unless <c>general.alignment</c> says otherwise), as
/// llama.cpp expects. Disposing without committing deletes everything written.
/// </summary>
public sealed class GgufWriter : IDisposable
{
    private readonly ScratchFile _scratch;
    private readonly List<KeyValuePair<string, GgufValue>> _values = new();
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly List<(string Name, GgmlType Type, long[] Ne, long Offset)> _tensors = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private bool _done;

    private FileStream Data => _scratch.Stream;

    /// <summary>Starts a writer; temporary tensor data goes to <paramref name="tempDirectory"/> (default: the system temp folder).</summary>
    public GgufWriter(string? tempDirectory = null)
    {
        _scratch = new ScratchFile(tempDirectory, "quantsharp-gguf-data");
    }

    /// <summary>Alignment of tensor data; set from a u32 <c>general.alignment</c> entry when one is added.</summary>
    public uint Alignment { get; private set; } = GgufFile.DefaultAlignment;

    /// <summary>Number of tensors added.</summary>
    public int TensorCount => _tensors.Count;

    /// <summary>Adds a metadata entry. <c>general.alignment</c> must be a u32 power of two and come before any tensor.</summary>
    public void Add(string key, GgufValue value)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        if (!_keys.Add(key))
        {
            throw new ArgumentException($"metadata key '{key}' added twice", nameof(key));
        }

        if (key == "general.alignment")
        {
            if (value.Type != GgufValueType.UInt32 || !uint.IsPow2((uint)value.Value))
            {
                _keys.Remove(key);
                throw new ArgumentException("general.alignment must be a u32 power of two", nameof(value));
            }

            if (_tensors.Count > 0)
            {
                _keys.Remove(key);
                throw new InvalidOperationException("general.alignment must be set before tensors are added");
            }

            Alignment = (uint)value.Value;
        }

        _values.Add(new(key, value));
    }

    /// <summary>Appends metadata <paramref name="key"/> = <paramref name="value"/> as String.</summary>
    public void Add(string key, string value) => Add(key, GgufValue.From(value));
    /// <summary>Appends metadata <paramref name="key"/> = <paramref name="value"/> as UInt32.</summary>
    public void Add(string key, uint value) => Add(key, GgufValue.From(value));
    /// <summary>Appends metadata <paramref name="key"/> = <paramref name="value"/> as Int32.</summary>
    public void Add(string key, int value) => Add(key, GgufValue.From(value));
    /// <summary>Appends metadata <paramref name="key"/> = <paramref name="value"/> as Float32.</summary>
    public void Add(string key, float value) => Add(key, GgufValue.From(value));
    /// <summary>Appends metadata <paramref name="key"/> = <paramref name="value"/> as Bool.</summary>
    public void Add(string key, bool value) => Add(key, GgufValue.From(value));
    /// <summary>Appends metadata <paramref name="key"/> = <paramref name="value"/> as UInt64.</summary>
    public void Add(string key, ulong value) => Add(key, GgufValue.From(value));
    /// <summary>Appends metadata <paramref name="key"/> = <paramref name="value"/> as an array of String.</summary>
    public void Add(string key, string[] value) => Add(key, GgufValue.Array(value));
    /// <summary>Appends metadata <paramref name="key"/> = <paramref name="value"/> as an array of Float32.</summary>
    public void Add(string key, float[] value) => Add(key, GgufValue.Array(value));
    /// <summary>Appends metadata <paramref name="key"/> = <paramref name="value"/> as an array of Int32.</summary>
    public void Add(string key, int[] value) => Add(key, GgufValue.Array(value));

    /// <summary>Appends a tensor of <paramref name="type"/> with dimensions <paramref name="ne"/> in ggml order (ne[0] is
    /// the row length). <paramref name="data"/> must hold exactly the tensor's bytes.</summary>
    public void AddTensor(string name, GgmlType type, ReadOnlySpan<long> ne, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        int blockSize = GgmlTypeInfo.BlockSize(type);
        if (blockSize == 0)
        {
            throw new ArgumentException($"tensor '{name}': unknown type {type}", nameof(type));
        }

        if (ne.Length < 1 || ne.Length > GgufFile.MaxDimensions)
        {
            throw new ArgumentException($"tensor '{name}': {ne.Length} dimensions; 1 to {GgufFile.MaxDimensions} are allowed", nameof(ne));
        }

        long elements = 1;
        foreach (long d in ne)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(ne));
            elements = checked(elements * d);
        }

        if (ne[0] % blockSize != 0)
        {
            throw new ArgumentException($"tensor '{name}': row length {ne[0]} is not a multiple of the {type} block size {blockSize}", nameof(ne));
        }

        long bytes = elements / blockSize * GgmlTypeInfo.TypeSize(type);
        if (bytes != data.Length)
        {
            throw new ArgumentException($"tensor '{name}': {type} ne=[{string.Join(", ", ne.ToArray())}] needs {bytes} bytes, got {data.Length}", nameof(data));
        }

        if (!_names.Add(name))
        {
            throw new ArgumentException($"tensor '{name}' added twice", nameof(name));
        }

        long offset = Data.Position;
        Data.Write(data);
        WritePadding(Data, Alignment);
        _tensors.Add((name, type, ne.ToArray(), offset));
    }

    /// <summary>Writes the file to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    public void Commit(string path)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        try
        {
            AtomicFile.Write(path, output =>
            {
                WriteHeader(output);
                WritePadding(output, Alignment);
                Data.Flush();
                Data.Position = 0;
                Data.CopyTo(output);
            });
        }
        finally
        {
            Dispose();
        }
    }

    /// <summary>Builds the whole file in memory (small files: tests, fuzzing) and disposes the writer.</summary>
    public byte[] ToArray()
    {
        ObjectDisposedException.ThrowIf(_done, this);
        try
        {
            using var output = new MemoryStream();
            WriteHeader(output);
            WritePadding(output, Alignment);
            Data.Flush();
            Data.Position = 0;
            Data.CopyTo(output);
            return output.ToArray();
        }
        finally
        {
            Dispose();
        }
    }

    private void WriteHeader(Stream output)
    {
        using var w = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true);
        w.Write(0x46554747u);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_values.Count);
        foreach (var (key, value) in _values)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }

        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Ne.Length);
            foreach (long d in t.Ne)
            {
                w.Write((ulong)d);
            }

            w.Write((uint)t.Type);
            w.Write((ulong)t.Offset);
        }

        w.Flush();
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValue value)
    {
        switch (value.Value)
        {
            case byte v: w.Write(v); break;
            case sbyte v: w.Write(v); break;
            case bool v: w.Write((byte)(v ? 1 : 0)); break;
            case ushort v: w.Write(v); break;
            case short v: w.Write(v); break;
            case uint v: w.Write(v); break;
            case int v: w.Write(v); break;
            case float v: w.Write(v); break;
            case ulong v: w.Write(v); break;
            case long v: w.Write(v); break;
            case double v: w.Write(v); break;
            case string v: WriteString(w, v); break;
            case Array a:
                w.Write((uint)value.ElementType);
                w.Write((ulong)a.Length);
                switch (a)
                {
                    case string[] strings:
                        foreach (string s in strings)
                        {
                            WriteString(w, s);
                        }

                        break;
                    case GgufValue[] nested:
                        foreach (GgufValue n in nested)
                        {
                            WriteValue(w, n);
                        }

                        break;
                    case bool[] bools:
                        foreach (bool b in bools)
                        {
                            w.Write((byte)(b ? 1 : 0));
                        }

                        break;
                    default:
                        // Primitive arrays are written as their little-endian bytes.
                        byte[] raw = new byte[Buffer.ByteLength(a)];
                        Buffer.BlockCopy(a, 0, raw, 0, raw.Length);
                        w.Write(raw);
                        break;
                }

                break;
            default:
                throw new InvalidOperationException($"cannot write a {value.Value.GetType()} metadata value");
        }
    }

    private static void WritePadding(Stream s, uint alignment)
    {
        long pad = (alignment - (s.Position % alignment)) % alignment;
        for (long i = 0; i < pad; i++)
        {
            s.WriteByte(0);
        }
    }

    /// <summary>Deletes the temporary data; an uncommitted file is never created.</summary>
    public void Dispose()
    {
        _done = true;
        _scratch.Dispose();
    }
}
