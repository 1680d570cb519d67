using System.Runtime.InteropServices;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Models;

/// <summary>
/// What a selected dense weight is turned into, on load or when writing a checkpoint: a quantization scheme
/// (<see cref="QuantSpec"/>), or plain bfloat16 (<c>bf16</c>, round-to-nearest-even; not a quantization, no
/// <c>quantization_config</c>).
/// </summary>
public sealed class WeightFormat
{
    private WeightFormat(QuantSpec? spec) => Spec = spec;

    /// <summary>The quantization scheme, or null for bf16.</summary>
    public QuantSpec? Spec { get; }

    /// <summary>Canonical name: <see cref="QuantSpec.Name"/> or <c>bf16</c>.</summary>
    public string Name => Spec?.Name ?? "bf16";

    /// <summary>A quantization scheme.</summary>
    public static WeightFormat Quantized(QuantSpec spec) => new(spec ?? throw new ArgumentNullException(nameof(spec)));

    /// <summary>bfloat16 storage.</summary>
    public static WeightFormat BFloat16 { get; } = new(null);

    /// <summary>Resolves command-line options: <c>bf16</c>, or any scheme <see cref="QuantSpec.Parse"/> accepts.</summary>
    /// <exception cref="QuantSharpException">Unknown scheme or an option that does not apply to it.</exception>
    public static WeightFormat Parse(string scheme, int? groupSize = null, bool symmetric = false, bool doubleQuant = false, TernaryGranularity? granularity = null)
    {
        ArgumentNullException.ThrowIfNull(scheme);
        if (!scheme.Trim().Equals("bf16", StringComparison.OrdinalIgnoreCase))
        {
            return new(QuantSpec.Parse(scheme, groupSize, symmetric, doubleQuant, granularity));
        }

        if (groupSize is not null || symmetric || doubleQuant || granularity is not null)
        {
            throw new QuantSharpException("--group-size, --sym, --double-quant and --ternary-granularity do not apply to bf16");
        }

        return BFloat16;
    }

    /// <summary>Converts a 2-D F32/F16/BF16 tensor (reads it once; the result owns its memory).</summary>
    /// <exception cref="QuantSharpException">Not a 2-D float tensor, or NaN/Inf weights when quantizing.</exception>
    public ILinearWeight Convert(TensorView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        if (Spec is not null)
        {
            return QuantizedLinear.Quantize(view, Spec.FitRowLength(view.Shape.Length == 2 ? view.Shape[1] : 0));
        }

        if (view.Shape.Length != 2 || !DTypeInfo.IsFloat(view.DType))
        {
            throw new QuantSharpException($"tensor '{view.Name}' is {view.DType} {view.ShapeText}; only 2-D F32/F16/BF16 weights can be converted to bf16");
        }

        if (view.DType == DType.BF16)
        {
            return new DenseLinear(view);
        }

        float[] values = view.ToFloatArray();
        ushort[] bits = new ushort[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            bits[i] = Tensors.BFloat16.FromSingle(values[i]);
        }

        return new DenseLinear(TensorView.FromBytes(view.Name, DType.BF16, (long[])view.Shape.Clone(), MemoryMarshal.AsBytes(bits.AsSpan())));
    }

    /// <summary>
    /// Converts with each group's grid chosen under per-column importances (<paramref name="importance"/>: one mean
    /// squared input per input column, an <see cref="ImportanceMatrix"/> entry): round-to-nearest that minimises the
    /// importance-weighted rounding error (<see cref="GroupGrid.FitWeighted"/>), for the lattice schemes the scales and
    /// grid points that do (<see cref="LatticeScheme"/>), or for ternary the scale per row or group that does.
    /// int4/int3/int2, lattice and ternary (scales per row or group) only.
    /// </summary>
    /// <exception cref="QuantSharpException">Another scheme, a shape mismatch, or NaN/Inf weights.</exception>
    public ILinearWeight Convert(TensorView view, float[] importance)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(importance);
        if (Spec is not QuantSpec spec || !AcceptsImportance(spec))
        {
            throw new QuantSharpException($"an importance matrix applies to int4/int3/int2, the lattice schemes (iq2_xs, iq2_s, iq3_xxs, iq3_s) and ternary with scales per row or group, not {Name}");
        }

        if (view.Shape.Length != 2 || !DTypeInfo.IsFloat(view.DType))
        {
            throw new QuantSharpException($"tensor '{view.Name}' is {view.DType} {view.ShapeText}; only 2-D F32/F16/BF16 weights can be quantized");
        }

        int rows = checked((int)view.Shape[0]), cols = checked((int)view.Shape[1]);
        float[] weights = view.ToFloatArray();
        spec = spec.FitRowLength(cols);
        return QuantizedLinear.Create(spec.IsIntGroup ? new IntGroupScheme(spec).Quantize(view.Name, weights, rows, cols, importance)
            : spec.IsLattice ? new LatticeScheme(spec).Quantize(view.Name, weights, rows, cols, importance)
            : new TernaryScheme(spec).Quantize(view.Name, weights, rows, cols, importance));
    }

    /// <summary>True for the schemes <see cref="Convert(TensorView, float[])"/> can weight by importance.</summary>
    public static bool AcceptsImportance(QuantSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.IsIntGroup || spec.IsLattice || (spec.Kind == QuantSchemeKind.Ternary && spec.Granularity != TernaryGranularity.PerTensor);
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}
