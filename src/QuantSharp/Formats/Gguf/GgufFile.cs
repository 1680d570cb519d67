using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;
using QuantSharp.Tensors;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// A GGUF file (version 2 or 3, little-endian), memory-mapped or over an in-memory copy.
/// </summary>
/// <remarks>
/// Layout: <c>"GGUF"</c>, u32 version, u64 tensor count, u64 metadata count; metadata entries (string key, u32 value
/// type, value); tensor infos (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset); zero padding to
/// <c>general.alignment</c> (default 32); the data section. A string is a u64 byte length and UTF-8 bytes; an array
/// is a u32 element type, a u64 count and the elements. Every count, length, offset and dimension is checked against
/// the bytes that remain before it is used, so no header value can make the reader allocate more than a small
/// multiple of the file's size, read outside it or overflow; each problem is a <see cref="GgufException"/> whose
/// <see cref="GgufException.Error"/> says which.
/// </remarks>
public sealed unsafe class GgufFile : IWeightSource
{
    /// <summary>Alignment of tensor data when the file has no <c>general.alignment</c>.</summary>
    public const uint DefaultAlignment = 32;

    /// <summary>Deepest array nesting accepted (arrays of arrays of …).</summary>
    public const int MaxArrayNesting = 8;

    /// <summary>Longest string accepted, in bytes.</summary>
    public const long MaxStringBytes = 1L << 30;

    /// <summary>Most dimensions a tensor may have (GGML_MAX_DIMS).</summary>
    public const int MaxDimensions = 4;

    private readonly MemoryMappedFile? _mapping;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte[]? _pinned;
    private byte* _base;
    private readonly long _length;
    private readonly Dictionary<string, GgufValue> _values = new(StringComparer.Ordinal);
    private readonly List<KeyValuePair<string, GgufValue>> _valueList = new();
    private readonly Dictionary<string, GgufTensorInfo> _tensors = new(StringComparer.Ordinal);
    private readonly List<GgufTensorInfo> _tensorList = new();
    private IReadOnlyDictionary<string, TensorView>? _views;
    private IReadOnlyDictionary<string, string>? _metadata;

    private GgufFile(string location, MemoryMappedFile? mapping, MemoryMappedViewAccessor? view, byte[]? pinned, byte* basePtr, long length)
    {
        Location = location;
        _mapping = mapping;
        _view = view;
        _pinned = pinned;
        _base = basePtr;
        _length = length;
    }

    /// <summary>The path (or the name given to in-memory data).</summary>
    public string Location { get; }

    /// <summary>GGUF version (2 or 3).</summary>
    public uint Version { get; private set; }

    /// <summary>Alignment of tensor data in bytes.</summary>
    public uint Alignment { get; private set; } = DefaultAlignment;

    /// <summary>Offset of the data section from the start of the file.</summary>
    public long DataOffset { get; private set; }

    /// <summary>Length of the file in bytes.</summary>
    public long FileLength => _length;

    /// <summary>Metadata by key.</summary>
    public IReadOnlyDictionary<string, GgufValue> Values => _values;

    /// <summary>Metadata in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> ValuesInOrder => _valueList;

    /// <summary>All tensors by name, whatever their type.</summary>
    public IReadOnlyDictionary<string, GgufTensorInfo> TensorInfos => _tensors;

    /// <summary>All tensors in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> TensorsInOrder => _tensorList;

    /// <summary>The tensors whose type maps to a <see cref="DType"/> (F32, F16, BF16, I8…I64) as views with row-major
    /// shapes; block-quantized tensors are only in <see cref="TensorInfos"/>.</summary>
    public IReadOnlyDictionary<string, TensorView> Tensors
    {
        get
        {
            if (_views is null)
            {
                var views = new Dictionary<string, TensorView>(StringComparer.Ordinal);
                foreach (GgufTensorInfo t in _tensorList)
                {
                    if (t.ToTensorView() is { } v)
                    {
                        views[t.Name] = v;
                    }
                }

                _views = views;
            }

            return _views;
        }
    }

    /// <summary>Scalar and string metadata as invariant text (arrays are left out; use <see cref="Values"/>).</summary>
    public IReadOnlyDictionary<string, string> Metadata
    {
        get
        {
            if (_metadata is null)
            {
                var m = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var (k, v) in _valueList)
                {
                    if (v.Type != GgufValueType.Array)
                    {
                        m[k] = v.ToString();
                    }
                }

                _metadata = m;
            }

            return _metadata;
        }
    }

    /// <summary>True when <paramref name="path"/> is a file that starts with the GGUF magic.</summary>
    public static bool HasMagic(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        Span<byte> magic = stackalloc byte[4];
        using FileStream f = File.OpenRead(path);
        return f.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8);
    }

    /// <summary>Maps and validates the file at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="GgufException">The file is malformed.</exception>
    public static GgufFile Open(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"{path}: file not found", path);
        }

        long length = info.Length;
        if (length < 24)
        {
            throw new GgufException(GgufError.Truncated, path, null, $"file is {length} bytes, shorter than the 24-byte GGUF header");
        }

        var mapping = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        GgufFile? file = null;
        try
        {
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* ptr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            ptr += view.PointerOffset;
            file = new GgufFile(path, mapping, view, null, ptr, length);
            file.Parse();
            return file;
        }
        catch
        {
            if (file is not null)
            {
                file.Dispose();
            }
            else
            {
                view?.Dispose();
                mapping.Dispose();
            }

            throw;
        }
    }

    /// <summary>Validates GGUF bytes held in memory; the file keeps its own pinned copy.</summary>
    /// <exception cref="GgufException">The data is malformed; messages name it <paramref name="name"/>.</exception>
    public static GgufFile Parse(ReadOnlySpan<byte> data, string name = "<memory>")
    {
        byte[] pinned = GC.AllocateUninitializedArray<byte>(data.Length, pinned: true);
        data.CopyTo(pinned);
        byte* ptr = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(pinned));
        var file = new GgufFile(name, null, null, pinned, ptr, data.Length);
        file.Parse();
        return file;
    }

    /// <summary>The value of <paramref name="key"/>, or null when absent.</summary>
    public GgufValue? GetValueOrNull(string key) => _values.TryGetValue(key, out GgufValue? v) ? v : null;

    /// <summary>The string value of <paramref name="key"/>.</summary>
    /// <exception cref="GgufException">Absent (<see cref="GgufError.Missing"/>) or not a string (<see cref="GgufError.WrongType"/>).</exception>
    public string GetString(string key) => Require(key).AsString()
        ?? throw new GgufException(GgufError.WrongType, Location, key, $"is {_values[key].Type}, expected a string");

    /// <summary>The integer value of <paramref name="key"/> (any integer type).</summary>
    public long GetInteger(string key) => Require(key).TryGetInt64(out long v) ? v
        : throw new GgufException(GgufError.WrongType, Location, key, $"is {_values[key].Type}, expected an integer");

    /// <summary>The integer value of <paramref name="key"/>, or <paramref name="fallback"/> when absent.</summary>
    public long GetInteger(string key, long fallback) => _values.ContainsKey(key) ? GetInteger(key) : fallback;

    /// <summary>The numeric value of <paramref name="key"/> (float or integer types).</summary>
    public double GetFloat(string key) => Require(key).TryGetDouble(out double v) ? v
        : throw new GgufException(GgufError.WrongType, Location, key, $"is {_values[key].Type}, expected a number");

    /// <summary>The numeric value of <paramref name="key"/>, or <paramref name="fallback"/> when absent.</summary>
    public double GetFloat(string key, double fallback) => _values.ContainsKey(key) ? GetFloat(key) : fallback;

    /// <summary>The array value of <paramref name="key"/> as <typeparamref name="T"/>[] (<c>string[]</c>, <c>float[]</c>, <c>int[]</c>, …).</summary>
    public T[] GetArray<T>(string key) => Require(key).AsArray<T>()
        ?? throw new GgufException(GgufError.WrongType, Location, key, $"is {_values[key].Type} of {_values[key].ElementType}, expected an array of {typeof(T).Name}");

    /// <summary>The tensor called <paramref name="name"/>.</summary>
    /// <exception cref="GgufException">No such tensor (<see cref="GgufError.Missing"/>).</exception>
    public GgufTensorInfo GetTensor(string name) => _tensors.TryGetValue(name, out GgufTensorInfo? t) ? t
        : throw new GgufException(GgufError.Missing, Location, name, "no such tensor");

    private GgufValue Require(string key) => _values.TryGetValue(key, out GgufValue? v) ? v
        : throw new GgufException(GgufError.Missing, Location, key, "metadata key not found");

    private GgufException Error(GgufError error, string? item, string problem) => new(error, Location, item, problem);

    private void Parse()
    {
        var r = new Cursor(_base, _length, this);
        if (_length < 4 || r.U32(null, "magic") != 0x46554747u)
        {
            throw Error(GgufError.BadMagic, null, "not a GGUF file (the first 4 bytes are not \"GGUF\")");
        }

        uint version = r.U32(null, "version");
        if (version != 2 && version != 3)
        {
            string hint = version == 1 ? " (GGUF v1 is not supported)" : BinaryPrimitives.ReverseEndianness(version) is 2 or 3 ? " (a big-endian file; only little-endian is supported)" : string.Empty;
            throw Error(GgufError.UnsupportedVersion, null, $"GGUF version {version} is not supported{hint}");
        }

        Version = version;
        ulong tensorCount = r.U64(null, "tensor count");
        ulong kvCount = r.U64(null, "metadata count");

        // The smallest metadata entry is an 8-byte key length, a 4-byte type and a 1-byte value.
        if (kvCount > (ulong)(r.Remaining / 13))
        {
            throw Error(GgufError.CountTooLarge, null, $"metadata count {kvCount} cannot fit in the {r.Remaining} bytes that follow");
        }

        // The smallest tensor info is an 8-byte name length, a u32 n_dims, one u64 dimension, a u32 type and a u64 offset.
        if (tensorCount > (ulong)(r.Remaining / 32))
        {
            throw Error(GgufError.CountTooLarge, null, $"tensor count {tensorCount} cannot fit in the {r.Remaining} bytes that follow");
        }

        for (ulong i = 0; i < kvCount; i++)
        {
            string key = r.String(null, $"metadata key {i}");
            GgufValueType type = r.ValueType(key);
            GgufValue value = r.Value(key, type, 0);
            if (!_values.TryAdd(key, value))
            {
                throw Error(GgufError.DuplicateKey, key, "metadata key appears twice");
            }

            _valueList.Add(new(key, value));
        }

        if (_values.TryGetValue("general.alignment", out GgufValue? alignment))
        {
            if (alignment.Type != GgufValueType.UInt32 || (uint)alignment.Value == 0 || !uint.IsPow2((uint)alignment.Value))
            {
                throw Error(GgufError.BadAlignment, "general.alignment", $"must be a u32 power of two, found {alignment.Type} {alignment}");
            }

            Alignment = (uint)alignment.Value;
        }

        var pending = new List<(string Name, GgmlType Type, long[] Ne, long Offset, long Bytes, long Elements)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = r.String(null, $"name of tensor {i}");
            if (!names.Add(name))
            {
                throw Error(GgufError.DuplicateTensor, name, "tensor name appears twice");
            }

            uint nDims = r.U32(name, "n_dims");
            if (nDims < 1 || nDims > MaxDimensions)
            {
                throw Error(GgufError.BadDimensionCount, name, $"has {nDims} dimensions; 1 to {MaxDimensions} are allowed");
            }

            var ne = new long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++)
            {
                ulong dim = r.U64(name, $"ne[{d}]");
                if (dim > long.MaxValue)
                {
                    throw Error(GgufError.BadShape, name, $"ne[{d}] = {dim} is out of range");
                }

                ne[d] = (long)dim;
                if (!TryMultiply(elements, ne[d], out elements))
                {
                    throw Error(GgufError.BadShape, name, $"element count of ne=[{string.Join(", ", ne.AsSpan(0, d + 1).ToArray())}] overflows");
                }
            }

            uint typeId = r.U32(name, "type");
            var type = (GgmlType)typeId;
            int blockSize = GgmlTypeInfo.BlockSize(type);
            if (blockSize == 0 || !Enum.IsDefined(type))
            {
                throw Error(GgufError.UnknownTensorType, name, $"tensor type id {typeId} is not a known ggml type");
            }

            if (ne[0] % blockSize != 0)
            {
                throw Error(GgufError.BadShape, name, $"row length ne[0] = {ne[0]} is not a multiple of the {type} block size {blockSize}");
            }

            long bytes = elements / blockSize * GgmlTypeInfo.TypeSize(type);
            if (elements / blockSize > long.MaxValue / GgmlTypeInfo.TypeSize(type))
            {
                throw Error(GgufError.BadShape, name, "byte size overflows");
            }

            ulong offset = r.U64(name, "offset");
            if (offset % Alignment != 0)
            {
                throw Error(GgufError.TensorMisaligned, name, $"data offset {offset} is not a multiple of the alignment {Alignment}");
            }

            if (offset > long.MaxValue)
            {
                throw Error(GgufError.TensorOutOfRange, name, $"data offset {offset} is out of range");
            }

            pending.Add((name, type, ne, (long)offset, bytes, elements));
        }

        long dataStart = (r.Position + Alignment - 1) / Alignment * Alignment;
        if (tensorCount > 0 && dataStart > _length)
        {
            throw Error(GgufError.Truncated, null, $"the data section would start at {dataStart}, past the end of the {_length}-byte file");
        }

        DataOffset = Math.Min(dataStart, _length);
        long dataLength = _length - DataOffset;
        foreach (var t in pending)
        {
            if (t.Offset > dataLength || t.Bytes > dataLength - t.Offset)
            {
                throw Error(GgufError.TensorOutOfRange, t.Name,
                    $"{t.Type} ne=[{string.Join(", ", t.Ne)}] needs bytes [{t.Offset}, {t.Offset + (decimal)t.Bytes}) of the data section, which has {dataLength}");
            }

            var info = new GgufTensorInfo(this, t.Name, t.Type, t.Ne, t.Offset, t.Bytes, t.Elements, _base + DataOffset + t.Offset);
            _tensors.Add(t.Name, info);
            _tensorList.Add(info);
        }

        var spans = _tensorList.Where(t => t.ByteLength > 0).OrderBy(t => t.Offset).ToList();
        for (int i = 1; i < spans.Count; i++)
        {
            if (spans[i].Offset < spans[i - 1].Offset + spans[i - 1].ByteLength)
            {
                throw Error(GgufError.TensorOverlap, spans[i].Name,
                    $"bytes [{spans[i].Offset}, {spans[i].Offset + spans[i].ByteLength}) overlap tensor '{spans[i - 1].Name}' at [{spans[i - 1].Offset}, {spans[i - 1].Offset + spans[i - 1].ByteLength})");
            }
        }
    }

    private static bool TryMultiply(long a, long b, out long product)
    {
        try
        {
            product = checked(a * b);
            return true;
        }
        catch (OverflowException)
        {
            product = 0;
            return false;
        }
    }

    /// <summary>Forward-only reader over the mapped bytes; every read is bounds-checked against the file length.</summary>
    private struct Cursor
    {
        private readonly byte* _p;
        private readonly long _length;
        private readonly GgufFile _file;
        private long _pos;

        public Cursor(byte* p, long length, GgufFile file)
        {
            _p = p;
            _length = length;
            _file = file;
            _pos = 0;
        }

        public readonly long Position => _pos;

        public readonly long Remaining => _length - _pos;

        private byte* Take(long count, string? item, string what)
        {
            if (count > _length - _pos)
            {
                throw _file.Error(GgufError.Truncated, item, $"file ends at byte {_length} inside {what} (at {_pos}, {count} bytes needed)");
            }

            byte* p = _p + _pos;
            _pos += count;
            return p;
        }

        public uint U32(string? item, string what) => BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(Take(4, item, what), 4));

        public ulong U64(string? item, string what) => BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(Take(8, item, what), 8));

        public string String(string? item, string what)
        {
            ulong length = U64(item, what);
            if (length > (ulong)Remaining || length > MaxStringBytes)
            {
                throw _file.Error(GgufError.StringTooLong, item, $"{what}: string length {length} exceeds the {Remaining} bytes that remain");
            }

            byte* p = Take((long)length, item, what);
            return Encoding.UTF8.GetString(p, (int)length);
        }

        public GgufValueType ValueType(string item)
        {
            uint type = U32(item, "value type");
            if (type > (uint)GgufValueType.Float64)
            {
                throw _file.Error(GgufError.UnknownValueType, item, $"value type id {type} is not a GGUF type");
            }

            return (GgufValueType)type;
        }

        private static int MinSize(GgufValueType type) => type switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => 8,
        };

        public GgufValue Value(string key, GgufValueType type, int depth)
        {
            switch (type)
            {
                case GgufValueType.UInt8: return GgufValue.From(*Take(1, key, "u8 value"));
                case GgufValueType.Int8: return GgufValue.From((sbyte)*Take(1, key, "i8 value"));
                case GgufValueType.Bool: return GgufValue.From(*Take(1, key, "bool value") != 0);
                case GgufValueType.UInt16: return GgufValue.From(BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(Take(2, key, "u16 value"), 2)));
                case GgufValueType.Int16: return GgufValue.From(BinaryPrimitives.ReadInt16LittleEndian(new ReadOnlySpan<byte>(Take(2, key, "i16 value"), 2)));
                case GgufValueType.UInt32: return GgufValue.From(U32(key, "u32 value"));
                case GgufValueType.Int32: return GgufValue.From((int)U32(key, "i32 value"));
                case GgufValueType.Float32: return GgufValue.From(BitConverter.UInt32BitsToSingle(U32(key, "f32 value")));
                case GgufValueType.UInt64: return GgufValue.From(U64(key, "u64 value"));
                case GgufValueType.Int64: return GgufValue.From((long)U64(key, "i64 value"));
                case GgufValueType.Float64: return GgufValue.From(BitConverter.UInt64BitsToDouble(U64(key, "f64 value")));
                case GgufValueType.String: return GgufValue.From(String(key, "string value"));
                default: return Array(key, depth);
            }
        }

        private GgufValue Array(string key, int depth)
        {
            if (depth >= MaxArrayNesting)
            {
                throw _file.Error(GgufError.NestingTooDeep, key, $"arrays nested deeper than {MaxArrayNesting} levels");
            }

            GgufValueType element = ValueType(key);
            ulong count = U64(key, "array count");
            int min = MinSize(element);
            if (count > (ulong)(Remaining / min))
            {
                throw _file.Error(GgufError.CountTooLarge, key, $"array of {count} {element} values cannot fit in the {Remaining} bytes that remain");
            }

            int n = (int)count;
            switch (element)
            {
                case GgufValueType.UInt8: return GgufValue.Array(new ReadOnlySpan<byte>(Take(n, key, "array"), n).ToArray());
                case GgufValueType.Int8: return GgufValue.Array(new ReadOnlySpan<sbyte>(Take(n, key, "array"), n).ToArray());
                case GgufValueType.Bool:
                {
                    byte* p = Take(n, key, "array");
                    var a = new bool[n];
                    for (int i = 0; i < n; i++)
                    {
                        a[i] = p[i] != 0;
                    }

                    return GgufValue.Array(a);
                }

                case GgufValueType.UInt16: return GgufValue.Array(Copy<ushort>(n, key));
                case GgufValueType.Int16: return GgufValue.Array(Copy<short>(n, key));
                case GgufValueType.UInt32: return GgufValue.Array(Copy<uint>(n, key));
                case GgufValueType.Int32: return GgufValue.Array(Copy<int>(n, key));
                case GgufValueType.Float32: return GgufValue.Array(Copy<float>(n, key));
                case GgufValueType.UInt64: return GgufValue.Array(Copy<ulong>(n, key));
                case GgufValueType.Int64: return GgufValue.Array(Copy<long>(n, key));
                case GgufValueType.Float64: return GgufValue.Array(Copy<double>(n, key));
                case GgufValueType.String:
                {
                    var a = new string[n];
                    for (int i = 0; i < n; i++)
                    {
                        a[i] = String(key, "array string");
                    }

                    return GgufValue.Array(a);
                }

                default:
                {
                    var a = new GgufValue[n];
                    for (int i = 0; i < n; i++)
                    {
                        a[i] = Array(key, depth + 1);
                    }

                    return GgufValue.Array(a);
                }
            }
        }

        private T[] Copy<T>(int n, string key)
            where T : unmanaged
        {
            // The file is little-endian, as is every platform .NET runs on here.
            byte* p = Take((long)n * sizeof(T), key, "array");
            return new ReadOnlySpan<T>(p, n).ToArray();
        }
    }

    /// <summary>Unmaps the file; tensor pointers and views handed out become invalid.</summary>
    public void Dispose()
    {
        if (_view is not null && _base != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _base = null;
        _mapping?.Dispose();
        GC.KeepAlive(_pinned);
    }
}
