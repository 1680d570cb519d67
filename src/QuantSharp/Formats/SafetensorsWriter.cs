using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using QuantSharp.Tensors;

namespace QuantSharp.Formats;

/// <summary>
/// Writes a safetensors file tensor by tensor: each <c>Add</c> appends its bytes to a temporary data file at
/// once (so a caller can stream a model through without holding it), and <see cref="Commit"/> writes the header
/// (padded with spaces to a multiple of 8 bytes) and data into <c>path.tmp</c>, then renames it into place.
/// Disposing without committing deletes everything written.
/// </summary>
public sealed class SafetensorsWriter : IDisposable
{
    private readonly ScratchFile _scratch;
    private readonly List<(string Name, DType DType, long[] Shape, long Begin, long End)> _entries = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private bool _done;

    private FileStream Data => _scratch.Stream;

    /// <summary>Starts a writer; temporary data goes next to <paramref name="tempDirectory"/> (default: the system temp folder).</summary>
    public SafetensorsWriter(string? tempDirectory = null)
    {
        _scratch = new ScratchFile(tempDirectory, "quantsharp-safetensors-data");
    }

    /// <summary>String metadata written as <c>__metadata__</c>.</summary>
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal) { ["format"] = "pt" };

    /// <summary>Number of tensors added.</summary>
    public int Count => _entries.Count;

    /// <summary>Appends a tensor. <paramref name="data"/> must hold exactly shape × dtype size bytes.</summary>
    public void Add(string name, DType dtype, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data)
    {
        long begin = Begin(name, dtype, shape, data.Length);
        Data.Write(data);
        _entries.Add((name, dtype, shape.ToArray(), begin, Data.Position));
    }

    /// <summary>Appends an F32 tensor.</summary>
    public void Add(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> data) => Add(name, DType.F32, shape, MemoryMarshal.AsBytes(data));

    /// <summary>Appends a tensor view (copying its bytes, in pieces of at most 1 GiB, so views over 2 GiB — a 151,552 ×
    /// 4,096 F32 embedding — are copied too).</summary>
    public unsafe void Add(TensorView view, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(view);
        string tensor = name ?? view.Name;
        long begin = Begin(tensor, view.DType, view.Shape, view.ByteLength);
        const long Piece = 1L << 30;
        for (long offset = 0; offset < view.ByteLength; offset += Piece)
        {
            Data.Write(new ReadOnlySpan<byte>(view.Pointer + offset, (int)Math.Min(Piece, view.ByteLength - offset)));
        }

        _entries.Add((tensor, view.DType, (long[])view.Shape.Clone(), begin, Data.Position));
    }

    /// <summary>Checks a new entry (bytes match shape × dtype, name not yet used) and returns its start offset.</summary>
    private long Begin(string name, DType dtype, ReadOnlySpan<long> shape, long bytes)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        long elements = 1;
        foreach (long d in shape)
        {
            elements = checked(elements * d);
        }

        if (elements * DTypeInfo.SizeOf(dtype) != bytes)
        {
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape.ToArray())}] of {dtype} needs {elements * DTypeInfo.SizeOf(dtype)} bytes, got {bytes}");
        }

        if (!_names.Add(name))
        {
            throw new ArgumentException($"tensor '{name}' added twice");
        }

        return Data.Position;
    }

    /// <summary>Writes the file to <paramref name="path"/> atomically (temp file, then rename).</summary>
    public void Commit(string path)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        byte[] header = BuildHeader();
        try
        {
            AtomicFile.Write(path, output =>
            {
                Span<byte> len = stackalloc byte[8];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                output.Write(len);
                output.Write(header);
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

    private byte[] BuildHeader()
        => SafetensorsHeader.Build(Metadata, _entries.Select(e => new SafetensorsEntry(e.Name, e.DType, e.Shape, e.Begin, e.End)));

    /// <summary>Deletes the temporary data; an uncommitted file is never created.</summary>
    public void Dispose()
    {
        _done = true;
        _scratch.Dispose();
    }
}
