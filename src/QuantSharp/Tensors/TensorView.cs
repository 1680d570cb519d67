using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace QuantSharp.Tensors;

/// <summary>
/// A named, typed, shaped view over bytes that something else owns (usually a memory-mapped file).
/// No copy is made until a caller asks for floats.
/// </summary>
public sealed unsafe class TensorView
{
    private readonly byte* _data;

    /// <summary>Creates a view over <paramref name="byteLength"/> bytes at <paramref name="data"/>; the owner keeps them alive.</summary>
    public TensorView(string name, DType dtype, long[] shape, byte* data, long byteLength)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        _data = data;
        ByteLength = byteLength;
    }

    private readonly byte[]? _owner;

    private TensorView(string name, DType dtype, long[] shape, byte[] pinnedOwner)
        : this(name, dtype, shape, (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinnedOwner)), pinnedOwner.Length)
    {
        _owner = pinnedOwner;
    }

    /// <summary>Creates a view over a copy of <paramref name="bytes"/> held in pinned memory owned by the view.</summary>
    public static TensorView FromBytes(string name, DType dtype, long[] shape, ReadOnlySpan<byte> bytes)
    {
        byte[] pinned = GC.AllocateUninitializedArray<byte>(bytes.Length, pinned: true);
        bytes.CopyTo(pinned);
        return new TensorView(name, dtype, shape, pinned);
    }

    /// <summary>Creates an F32 view over a copy of <paramref name="values"/>.</summary>
    public static TensorView FromFloats(string name, long[] shape, ReadOnlySpan<float> values)
        => FromBytes(name, DType.F32, shape, MemoryMarshal.AsBytes(values));

    /// <summary>Tensor name as stored in the checkpoint.</summary>
    public string Name { get; }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Shape, outermost dimension first (row-major).</summary>
    public long[] Shape { get; }

    /// <summary>Number of bytes the data occupies.</summary>
    public long ByteLength { get; }

    /// <summary>Number of elements (product of the shape; 1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape)
            {
                n *= d;
            }

            return n;
        }
    }

    /// <summary>Pointer to the first byte; valid while the owner is alive.</summary>
    public byte* Pointer => _data;

    /// <summary>The raw bytes. Throws for tensors over 2 GiB (use <see cref="Pointer"/> there).</summary>
    public ReadOnlySpan<byte> Bytes => new(_data, checked((int)ByteLength));

    /// <summary>Rows of a 2-D tensor (or the product of all leading dimensions).</summary>
    public long Rows => Shape.Length == 0 ? 1 : ElementCount / Shape[^1];

    /// <summary>Length of the last dimension.</summary>
    public long Cols => Shape.Length == 0 ? 1 : Shape[^1];

    /// <summary>Shape as text, e.g. "[256, 4096]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>Converts elements [start, start + destination.Length) to float.</summary>
    public void ReadFloats(long start, Span<float> destination)
    {
        if (start < 0 || start + destination.Length > ElementCount)
        {
            throw new ArgumentOutOfRangeException(nameof(start));
        }

        switch (DType)
        {
            case DType.F32:
                new ReadOnlySpan<float>((float*)_data + start, destination.Length).CopyTo(destination);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)_data + start, destination.Length), destination);
                break;
            case DType.BF16:
                BFloat16.ToSingle(new ReadOnlySpan<ushort>((ushort*)_data + start, destination.Length), destination);
                break;
            default:
                throw new InvalidOperationException($"Tensor '{Name}' has dtype {DType}, which is not a floating-point type.");
        }
    }

    /// <summary>Copies the whole tensor to a new float array (for small tensors: norms, biases).</summary>
    public float[] ToFloatArray()
    {
        var result = new float[checked((int)ElementCount)];
        ReadFloats(0, result);
        return result;
    }
}
