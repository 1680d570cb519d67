using QuantSharp.Tensors;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// One tensor of a GGUF file: its ggml type, its dimensions in ggml order (<c>Dimensions[0]</c> = ne[0] is the
/// innermost, contiguous dimension, i.e. a linear weight's input features) and a pointer to its bytes in the
/// mapping. Valid while the <see cref="GgufFile"/> is open.
/// </summary>
public sealed unsafe class GgufTensorInfo
{
    private readonly GgufFile _file;

    internal GgufTensorInfo(GgufFile file, string name, GgmlType type, long[] dimensions, long offset, long byteLength, long elementCount, byte* data)
    {
        _file = file;
        Name = name;
        Type = type;
        Dimensions = dimensions;
        Offset = offset;
        ByteLength = byteLength;
        ElementCount = elementCount;
        Pointer = data;
    }

    /// <summary>Tensor name (e.g. <c>blk.0.attn_q.weight</c>).</summary>
    public string Name { get; }

    /// <summary>Storage type.</summary>
    public GgmlType Type { get; }

    /// <summary>ne[0..n_dims): ne[0] is the row length (input features), ne[1] the number of rows (output features).</summary>
    public long[] Dimensions { get; }

    /// <summary>Offset of the data from the start of the file's data section.</summary>
    public long Offset { get; }

    /// <summary>Bytes the data occupies.</summary>
    public long ByteLength { get; }

    /// <summary>Product of the dimensions.</summary>
    public long ElementCount { get; }

    /// <summary>Pointer to the first byte in the mapping; valid while the file is open.</summary>
    public byte* Pointer { get; }

    /// <summary>ne[0], the length of one row.</summary>
    public long RowLength => Dimensions[0];

    /// <summary>Number of rows: the product of ne[1..].</summary>
    public long RowCount => RowLength == 0 ? 0 : ElementCount / RowLength;

    /// <summary>Bytes of one row.</summary>
    public long RowBytes => GgmlTypeInfo.RowBytes(Type, RowLength);

    /// <summary>The file this tensor belongs to.</summary>
    public GgufFile File => _file;

    /// <summary>The raw bytes (throws for tensors over 2 GiB; use <see cref="Pointer"/> there).</summary>
    public ReadOnlySpan<byte> Bytes => new(Pointer, checked((int)ByteLength));

    /// <summary>Shape in row-major order (outermost first), as <see cref="TensorView"/> uses: the reverse of <see cref="Dimensions"/>.</summary>
    public long[] Shape
    {
        get
        {
            var shape = (long[])Dimensions.Clone();
            System.Array.Reverse(shape);
            return shape;
        }
    }

    /// <summary>Dimensions as text in ggml order, e.g. "ne=[4096, 11008]".</summary>
    public string DimensionsText => "ne=[" + string.Join(", ", Dimensions) + "]";

    /// <summary>The tensor as a <see cref="TensorView"/> when its type maps to a <see cref="DType"/> (F32, F16, BF16,
    /// I8, I16, I32, I64); null for block-quantized types.</summary>
    public TensorView? ToTensorView()
    {
        DType? dtype = Type switch
        {
            GgmlType.F32 => DType.F32,
            GgmlType.F16 => DType.F16,
            GgmlType.BF16 => DType.BF16,
            GgmlType.I8 => DType.I8,
            GgmlType.I16 => DType.I16,
            GgmlType.I32 => DType.I32,
            GgmlType.I64 => DType.I64,
            _ => null,
        };
        return dtype is null ? null : new TensorView(Name, dtype.Value, Shape, Pointer, ByteLength);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Type} {DimensionsText}";
}
