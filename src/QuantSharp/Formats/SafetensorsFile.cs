using System.IO.MemoryMappedFiles;
using System.Text.Json;
using QuantSharp.Tensors;

namespace QuantSharp.Formats;

/// <summary>
/// One memory-mapped safetensors file. Layout: u64 little-endian header length N, N bytes of JSON
/// (<c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}</c>), then the data
/// section; offsets are relative to the data section. Every field is validated before a view is handed out.
/// </summary>
public sealed unsafe class SafetensorsFile : IWeightSource
{
    /// <summary>Headers above this size are refused (real checkpoints have headers well under 10 MB).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private readonly MemoryMappedFile? _mapping;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;
    private long _mappedLength;

    private SafetensorsFile(string path, MemoryMappedFile? mapping, MemoryMappedViewAccessor? view, byte* basePtr)
    {
        Location = path;
        _mapping = mapping;
        _view = view;
        _base = basePtr;
    }

    /// <inheritdoc />
    public string Location { get; }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, TensorView> Tensors { get; private set; } = new Dictionary<string, TensorView>();

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> Metadata { get; private set; } = new Dictionary<string, string>();

    /// <summary>Maps and validates <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="SafetensorsException">The file is malformed; the message names the file, tensor and problem.</exception>
    public static SafetensorsFile Open(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"{path}: file not found", path);
        }

        long fileLength = info.Length;
        if (fileLength < 8)
        {
            throw new SafetensorsException(SafetensorsError.Truncated, path, null, $"file is {fileLength} bytes, shorter than the 8-byte header length");
        }

        var mapping = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* ptr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            ptr += view.PointerOffset;
            var file = new SafetensorsFile(path, mapping, view, ptr) { _mappedLength = fileLength };
            file.Parse(new ReadOnlySpan<byte>(ptr, (int)Math.Min(fileLength, int.MaxValue)), fileLength);
            return file;
        }
        catch
        {
            if (view is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                view.Dispose();
            }

            mapping.Dispose();
            throw;
        }
    }

    private void Parse(ReadOnlySpan<byte> head, long fileLength)
    {
        string path = Location;
        ulong headerLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(head);
        if (headerLength == 0 || headerLength > MaxHeaderBytes)
        {
            throw new SafetensorsException(SafetensorsError.HeaderLength, path, null, $"header length {headerLength} is not within 1..{MaxHeaderBytes}");
        }

        if (8 + (long)headerLength > fileLength)
        {
            throw new SafetensorsException(SafetensorsError.HeaderLength, path, null, $"header length {headerLength} runs past the end of the {fileLength}-byte file");
        }

        long dataStart = 8 + (long)headerLength;
        long dataLength = fileLength - dataStart;
        if (!System.Text.Unicode.Utf8.IsValid(head.Slice(8, (int)headerLength)))
        {
            throw new SafetensorsException(SafetensorsError.BadJson, path, null, "header is not valid UTF-8");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(new ReadOnlyMemory<byte>(head.Slice(8, (int)headerLength).ToArray()));
        }
        catch (JsonException e)
        {
            throw new SafetensorsException(SafetensorsError.BadJson, path, null, $"header is not valid JSON ({e.Message})");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsException(SafetensorsError.BadJson, path, null, "header is not a JSON object");
            }

            var tensors = new Dictionary<string, TensorView>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var spans = new List<(long Begin, long End, string Name)>();
            foreach (JsonProperty entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    if (entry.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw new SafetensorsException(SafetensorsError.BadEntry, path, null, "__metadata__ is not an object");
                    }

                    foreach (JsonProperty m in entry.Value.EnumerateObject())
                    {
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    }

                    continue;
                }

                TensorView view = ParseEntry(entry, dataStart, dataLength);
                if (!tensors.TryAdd(entry.Name, view))
                {
                    throw new SafetensorsException(SafetensorsError.BadEntry, path, entry.Name, "appears twice in the header");
                }

                long begin = view.Pointer - (_base + dataStart);
                if (view.ByteLength > 0)
                {
                    spans.Add((begin, begin + view.ByteLength, entry.Name));
                }
            }

            spans.Sort((a, b) => a.Begin.CompareTo(b.Begin));
            for (int i = 1; i < spans.Count; i++)
            {
                if (spans[i].Begin < spans[i - 1].End)
                {
                    throw new SafetensorsException(SafetensorsError.Overlap, path, spans[i].Name,
                        $"bytes [{spans[i].Begin}, {spans[i].End}) overlap tensor '{spans[i - 1].Name}' at [{spans[i - 1].Begin}, {spans[i - 1].End})");
                }
            }

            Tensors = tensors;
            Metadata = metadata;
        }
    }

    private TensorView ParseEntry(JsonProperty entry, long dataStart, long dataLength)
    {
        string path = Location;
        string name = entry.Name;
        JsonElement e = entry.Value;
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new SafetensorsException(SafetensorsError.BadEntry, path, name, "entry is not an object");
        }

        if (!e.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw new SafetensorsException(SafetensorsError.BadEntry, path, name, "missing string field 'dtype'");
        }

        string dtypeName = dtypeElement.GetString()!;
        if (!DTypeInfo.TryParse(dtypeName, out DType dtype))
        {
            throw new SafetensorsException(SafetensorsError.UnknownDType, path, name, $"dtype '{dtypeName}' is not supported (F32, F16, BF16, I8, U8, I16, I32, I64, BOOL)");
        }

        if (!e.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw new SafetensorsException(SafetensorsError.BadEntry, path, name, "missing array field 'shape'");
        }

        var shape = new long[shapeElement.GetArrayLength()];
        long elements = 1;
        int k = 0;
        foreach (JsonElement d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
            {
                throw new SafetensorsException(SafetensorsError.BadEntry, path, name, $"shape dimension {k} is not a non-negative integer");
            }

            shape[k++] = dim;
            try
            {
                elements = checked(elements * dim);
            }
            catch (OverflowException)
            {
                throw new SafetensorsException(SafetensorsError.ByteCountMismatch, path, name, "shape product overflows");
            }
        }

        if (!e.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
        {
            throw new SafetensorsException(SafetensorsError.BadEntry, path, name, "missing field 'data_offsets' = [begin, end]");
        }

        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end))
        {
            throw new SafetensorsException(SafetensorsError.BadEntry, path, name, "data_offsets are not integers");
        }

        if (begin < 0 || end < begin || end > dataLength)
        {
            throw new SafetensorsException(SafetensorsError.OffsetsOutOfRange, path, name,
                $"data_offsets [{begin}, {end}] are not inside the {dataLength}-byte data section");
        }

        long expected;
        try
        {
            expected = checked(elements * DTypeInfo.SizeOf(dtype));
        }
        catch (OverflowException)
        {
            throw new SafetensorsException(SafetensorsError.ByteCountMismatch, path, name, "shape × dtype size overflows");
        }

        if (expected != end - begin)
        {
            throw new SafetensorsException(SafetensorsError.ByteCountMismatch, path, name,
                $"shape {string.Join('x', shape)} of {dtypeName} needs {expected} bytes but data_offsets span {end - begin}");
        }

        return new TensorView(name, dtype, shape, _base + dataStart + begin, end - begin);
    }

    /// <summary>
    /// Drops this process's resident pages of <paramref name="view"/> (Linux <c>madvise(MADV_DONTNEED)</c>); the data stays
    /// valid and is read back from the file if touched again. Used after a tensor has been converted (quantized while
    /// loading or writing) so the process does not keep the unquantized bytes resident. No-op for views outside this file
    /// or on other systems.
    /// </summary>
    /// <returns>True if the view lies in this file's mapping.</returns>
    public bool ReleasePages(TensorView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        byte* p = view.Pointer;
        if (_base == null || p < _base || p + view.ByteLength > _base + _mappedLength)
        {
            return false;
        }

        MappedPages.Release(p, view.ByteLength);
        return true;
    }

    /// <summary>Unmaps the file; views handed out become invalid.</summary>
    public void Dispose()
    {
        if (_view is not null && _base != null)
        {
            _base = null;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _mapping?.Dispose();
    }
}
