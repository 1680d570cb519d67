using QuantSharp.Tensors;

namespace QuantSharp.Quantization;

/// <summary>One stored array of a packed weight (packed codes, scales, zero points, …), named by its suffix.</summary>
public sealed class QuantizedPart
{
    /// <summary>Creates a part; <paramref name="data"/> must hold exactly shape × dtype size bytes and should be pinned
    /// (<see cref="QuantizedTensor.AllocatePinned"/>) so kernels can read it through a pointer.</summary>
    public QuantizedPart(string suffix, DType dtype, long[] shape, byte[] data)
    {
        long elements = 1;
        foreach (long d in shape)
        {
            elements *= d;
        }

        if (elements * DTypeInfo.SizeOf(dtype) != data.Length)
        {
            throw new ArgumentException($"part '{suffix}': shape [{string.Join(", ", shape)}] of {dtype} needs {elements * DTypeInfo.SizeOf(dtype)} bytes, got {data.Length}");
        }

        Suffix = suffix;
        DType = dtype;
        Shape = shape;
        Data = data;
    }

    /// <summary>Tensor-name suffix: <c>qweight</c>, <c>scales</c>, <c>zeros</c>, <c>absmax</c>, <c>absmax_scale</c>, <c>absmax_offset</c>.</summary>
    public string Suffix { get; }

    /// <summary>Element type on disk.</summary>
    public DType DType { get; }

    /// <summary>Shape on disk.</summary>
    public long[] Shape { get; }

    /// <summary>The bytes (pinned, little-endian).</summary>
    public byte[] Data { get; }
}

/// <summary>
/// The packed form of one weight matrix as produced by an <see cref="IQuantScheme"/>: its parts live in pinned
/// arrays, which the kernels read in place (Kernels' <c>QuantizedLinear.Create</c> turns it into an <c>ILinearWeight</c>).
/// </summary>
public sealed class QuantizedTensor
{
    private readonly QuantizedPart[] _parts;

    /// <summary>Creates the packed form.</summary>
    public QuantizedTensor(string name, QuantSpec spec, int rows, int cols, params QuantizedPart[] parts)
    {
        Name = name;
        Spec = spec;
        Rows = rows;
        Cols = cols;
        _parts = parts;
    }

    /// <summary>Name of the dense weight this came from (e.g. <c>model.layers.0.mlp.up_proj.weight</c>).</summary>
    public string Name { get; }

    /// <summary>The scheme and its parameters.</summary>
    public QuantSpec Spec { get; }

    /// <summary>Output features.</summary>
    public int Rows { get; }

    /// <summary>Input features (before padding).</summary>
    public int Cols { get; }

    /// <summary>All parts, in the order they are written.</summary>
    public IReadOnlyList<QuantizedPart> Parts => _parts;

    /// <summary>Total bytes of all parts.</summary>
    public long ByteLength => _parts.Sum(p => (long)p.Data.Length);

    /// <summary>The part with this suffix.</summary>
    /// <exception cref="KeyNotFoundException">No such part.</exception>
    public QuantizedPart this[string suffix]
        => Array.Find(_parts, p => p.Suffix == suffix) ?? throw new KeyNotFoundException($"{Name}: no part '{suffix}'");

    /// <summary>A zeroed, pinned byte array (kernels take its address, so it must not move).</summary>
    public static byte[] AllocatePinned(long bytes) => GC.AllocateArray<byte>(checked((int)bytes), pinned: true);
}
