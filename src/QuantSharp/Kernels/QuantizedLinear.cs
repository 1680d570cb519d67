using System.Runtime.InteropServices;
using QuantSharp.Formats;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// Entry points for quantized linear weights: quantize a dense weight into an <see cref="ILinearWeight"/>, write it
/// as named tensors, and load it back from memory-mapped tensors without copying.
/// </summary>
/// <remarks>
/// A dense weight <c>P.weight</c> (or any name <c>P</c> without that suffix) is stored as tensors <c>P.qweight</c>,
/// <c>P.scales</c> / <c>P.zeros</c> / <c>P.absmax</c> / <c>P.absmax_scale</c> / <c>P.absmax_offset</c> as the
/// scheme needs, and <c>P.qmeta</c>, I32 [8] =
/// <c>[format version 1, scheme id (<see cref="QuantSchemeKind"/>), rows, cols, group size, symmetric 0/1,
/// double quant 0/1, ternary granularity (<see cref="TernaryGranularity"/>)]</c>, so each weight is self-describing.
/// See docs/formats.md.
/// </remarks>
public static unsafe class QuantizedLinear
{
    /// <summary>Version written in <c>qmeta[0]</c>.</summary>
    public const int FormatVersion = 1;

    /// <summary>Suffix of the per-weight metadata tensor.</summary>
    public const string MetaSuffix = "qmeta";

    /// <summary>The tensor-name prefix of a weight: <paramref name="weightName"/> without a trailing <c>.weight</c>.</summary>
    public static string Prefix(string weightName)
        => weightName.EndsWith(".weight", StringComparison.Ordinal) ? weightName[..^".weight".Length] : weightName;

    /// <summary>Wraps a freshly packed tensor (no copy: the kernels read its pinned arrays).</summary>
    public static PackedLinear Create(QuantizedTensor packed)
    {
        string prefix = Prefix(packed.Name);
        var views = new Dictionary<string, TensorView>(StringComparer.Ordinal);
        foreach (QuantizedPart p in packed.Parts)
        {
            byte* data = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(p.Data));
            views[p.Suffix] = new TensorView($"{prefix}.{p.Suffix}", p.DType, p.Shape, data, p.Data.Length);
        }

        return Create(new PackedWeight(prefix, packed.Spec, packed.Rows, packed.Cols, views, packed));
    }

    /// <summary>The kernel class for the scheme of <paramref name="packed"/>; validates every tensor.</summary>
    /// <exception cref="QuantSharpException">A tensor is missing, or of the wrong dtype, shape or size.</exception>
    public static PackedLinear Create(PackedWeight packed) => packed.Spec.Format.Family switch
    {
        SchemeFamily.Int8 => new Int8Linear(packed),
        SchemeFamily.IntGroup when packed.Spec.Kind == QuantSchemeKind.Int4 && !packed.Parts.ContainsKey(IntGroupLinear.GIdxSuffix) => new Int4Linear(packed),
        SchemeFamily.IntGroup => new IntGroupLinear(packed),
        SchemeFamily.FourBitFloat => new Nf4Linear(packed),
        SchemeFamily.Ternary => new TernaryLinear(packed),
        SchemeFamily.Lattice => new LatticeLinear(packed),
        _ => throw new QuantSharpException($"'{packed.Prefix}': unknown scheme {packed.Spec.Kind}"),
    };

    /// <summary>Quantizes a row-major float matrix.</summary>
    /// <exception cref="QuantSharpException">NaN/Inf weights or a shape mismatch (the message names <paramref name="name"/>).</exception>
    public static PackedLinear Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols, QuantSpec spec)
        => Create(QuantScheme.Quantize(spec, name, weights, rows, cols));

    /// <summary>Quantizes a 2-D F32/F16/BF16 tensor (converted to float one tensor at a time).</summary>
    /// <exception cref="QuantSharpException">Not a 2-D float tensor, or NaN/Inf weights.</exception>
    public static PackedLinear Quantize(TensorView dense, QuantSpec spec)
    {
        if (dense.Shape.Length != 2 || !DTypeInfo.IsFloat(dense.DType))
        {
            throw new QuantSharpException($"tensor '{dense.Name}' is {dense.DType} {dense.ShapeText}; only 2-D F32/F16/BF16 weights can be quantized");
        }

        float[] values = dense.ToFloatArray();
        return Quantize(dense.Name, values, checked((int)dense.Shape[0]), checked((int)dense.Shape[1]), spec);
    }

    /// <summary>True when <paramref name="tensors"/> holds a quantized form of <paramref name="weightName"/> (its <c>qmeta</c>).</summary>
    public static bool IsQuantized(string weightName, IReadOnlyDictionary<string, TensorView> tensors)
        => tensors.ContainsKey($"{Prefix(weightName)}.{MetaSuffix}");

    /// <summary>The tensor names a quantized <paramref name="weight"/> is stored under (qmeta first).</summary>
    public static IEnumerable<string> TensorNames(string weightName, PackedLinear weight)
    {
        string prefix = Prefix(weightName);
        yield return $"{prefix}.{MetaSuffix}";
        foreach (string suffix in weight.Packed.Parts.Keys)
        {
            yield return $"{prefix}.{suffix}";
        }
    }

    /// <summary>Appends the tensors of <paramref name="weight"/> to <paramref name="writer"/> under <c>Prefix(weightName)</c>.</summary>
    /// <exception cref="ArgumentException"><paramref name="weight"/> is not a quantized weight.</exception>
    public static void Write(SafetensorsWriter writer, string weightName, ILinearWeight weight)
    {
        if (weight is not PackedLinear packed)
        {
            throw new ArgumentException($"'{weightName}' is a {weight.Scheme} weight, not a quantized one", nameof(weight));
        }

        string prefix = Prefix(weightName);
        QuantSpec spec = packed.Spec;
        ReadOnlySpan<int> meta =
        [
            FormatVersion, (int)spec.Kind, packed.Rows, packed.Cols, spec.GroupSize,
            spec.Symmetric ? 1 : 0, spec.DoubleQuant ? 1 : 0, (int)spec.Granularity,
        ];
        writer.Add($"{prefix}.{MetaSuffix}", DType.I32, [meta.Length], MemoryMarshal.AsBytes(meta));
        foreach ((string suffix, TensorView view) in packed.Packed.Parts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            writer.Add($"{prefix}.{suffix}", view.DType, view.Shape, new ReadOnlySpan<byte>(view.Pointer, checked((int)view.ByteLength)));
        }
    }

    /// <summary>Reads the spec and shape recorded in <c>Prefix(weightName).qmeta</c>.</summary>
    /// <exception cref="QuantSharpException">Missing or malformed qmeta.</exception>
    public static (QuantSpec Spec, int Rows, int Cols) ReadMeta(string weightName, IReadOnlyDictionary<string, TensorView> tensors)
    {
        string name = $"{Prefix(weightName)}.{MetaSuffix}";
        if (!tensors.TryGetValue(name, out TensorView? view))
        {
            throw new QuantSharpException($"tensor '{name}' is missing: '{weightName}' is not stored in a QuantSharp quantized layout");
        }

        if (view.DType != DType.I32 || view.Shape.Length != 1 || view.Shape[0] != 8 || view.ByteLength != 32)
        {
            throw new QuantSharpException($"tensor '{name}' is {view.DType} {view.ShapeText}; expected I32 [8]");
        }

        ReadOnlySpan<int> m = new(view.Pointer, 8);
        if (m[0] != FormatVersion)
        {
            throw new QuantSharpException($"tensor '{name}': format version {m[0]} is not supported (this build reads version {FormatVersion})");
        }

        if (m[2] <= 0 || m[3] <= 0)
        {
            throw new QuantSharpException($"tensor '{name}': shape {m[2]}×{m[3]} is not a matrix");
        }

        try
        {
            QuantSpec spec = QuantSpec.FromParts((QuantSchemeKind)m[1], m[4], m[5] != 0, m[6] != 0, (TernaryGranularity)m[7]);
            return (spec, m[2], m[3]);
        }
        catch (QuantSharpException e)
        {
            throw new QuantSharpException($"tensor '{name}': {e.Message}", e);
        }
    }

    /// <summary>Loads the quantized form of <paramref name="weightName"/> from <paramref name="tensors"/> (e.g. an
    /// <see cref="IWeightSource"/>'s), reading packed bytes in place from the views.</summary>
    /// <exception cref="QuantSharpException">Missing/malformed qmeta, or a packed tensor missing, truncated or of the wrong dtype/shape.</exception>
    public static PackedLinear Load(string weightName, IReadOnlyDictionary<string, TensorView> tensors)
    {
        (QuantSpec spec, int rows, int cols) = ReadMeta(weightName, tensors);
        string prefix = Prefix(weightName);
        var parts = new Dictionary<string, TensorView>(StringComparer.Ordinal);
        foreach (string suffix in (string[])["qweight", "scales", "zeros", "absmax", "absmax_scale", "absmax_offset", IntGroupLinear.GIdxSuffix])
        {
            if (tensors.TryGetValue($"{prefix}.{suffix}", out TensorView? view))
            {
                parts[suffix] = view;
            }
        }

        return Create(new PackedWeight(prefix, spec, rows, cols, parts));
    }
}
