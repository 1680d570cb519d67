using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;
using QuantSharp.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// Round-to-nearest onto a lattice codebook (<see cref="LatticeFormat"/>: IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S) with
/// error weights <c>a_i · √(σ² + w_i²)</c> per block of 256 (<see cref="GroupGrid.ErrorWeights"/>; a = 1 without an
/// importance matrix). Packed as one part, <c>qweight</c> (U8 [rows, cols / 256 · block bytes]), holding exactly the
/// GGUF blocks.
/// </summary>
public sealed class LatticeScheme : IQuantScheme
{
    private readonly LatticeFormat _format;

    /// <summary>Creates the scheme for a lattice <paramref name="spec"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="spec"/> is not a lattice scheme.</exception>
    public LatticeScheme(QuantSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        _format = LatticeFormat.For(spec.Kind) ?? throw new ArgumentException($"{spec.Name} is not a lattice scheme", nameof(spec));
        Spec = spec;
    }

    /// <inheritdoc />
    public QuantSpec Spec { get; }

    /// <summary>The GGUF block type of the packed bytes.</summary>
    public GgmlType BlockType => _format.Type;

    /// <inheritdoc />
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols) => Quantize(name, weights, rows, cols, []);

    /// <summary>Round-to-nearest with the error of each weight scaled by its column's importance (an importance matrix
    /// entry: mean squared input per column), or unweighted importances when <paramref name="importance"/> is empty.</summary>
    /// <exception cref="QuantSharpException">NaN/Inf weights, a row length that is not a multiple of 256, or importances
    /// that are not <paramref name="cols"/> finite values ≥ 0.</exception>
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols, ReadOnlySpan<float> importance)
    {
        CheckShape(name, cols);
        QuantChecks.CheckWeights(name, weights, rows, cols);
        if (!importance.IsEmpty)
        {
            QuantChecks.CheckImportance(name, importance, cols);
        }

        int blocks = cols / LatticeFormat.BlockWeights, blockBytes = _format.BlockBytes;
        byte[] q = QuantizedTensor.AllocatePinned((long)rows * blocks * blockBytes);
        float[] source = weights.ToArray();
        float[] columnImportance = importance.IsEmpty ? [.. Enumerable.Repeat(1f, cols)] : importance.ToArray();
        Parallel.For(0, rows, () => new LatticeQuantizer(_format), (r, _, quantizer) =>
        {
            var decoded = new float[LatticeFormat.BlockWeights];
            for (int b = 0; b < blocks; b++)
            {
                int at = b * LatticeFormat.BlockWeights;
                ReadOnlySpan<float> x = source.AsSpan((r * cols) + at, LatticeFormat.BlockWeights);
                float[] w = GroupGrid.ErrorWeights(x, columnImportance.AsSpan(at, LatticeFormat.BlockWeights));
                quantizer.CodeBlock(x, w, q.AsSpan((int)(((long)r * blocks + b) * blockBytes), blockBytes), decoded);
            }

            return quantizer;
        }, _ => { });
        return Packed(Spec, name, rows, cols, q);
    }

    /// <inheritdoc />
    public void DequantizeRow(QuantizedTensor packed, int row, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(packed);
        int rowBytes = packed.Cols / LatticeFormat.BlockWeights * _format.BlockBytes;
        GgufDequantize.Row(_format.Type, packed["qweight"].Data.AsSpan(row * rowBytes, rowBytes), destination[..packed.Cols]);
    }

    /// <summary>Wraps GGUF blocks <paramref name="q"/> (rows × cols / 256 blocks) as a packed tensor.</summary>
    internal static QuantizedTensor Packed(QuantSpec spec, string name, int rows, int cols, byte[] q)
        => new(name, spec, rows, cols, new QuantizedPart("qweight", DType.U8, [rows, q.Length / rows], q));

    /// <summary>Refuses a row length the 256-weight blocks do not divide.</summary>
    internal static void CheckShape(string name, int cols)
    {
        if (cols % LatticeFormat.BlockWeights != 0)
        {
            throw new QuantSharpException($"'{name}': rows of {cols} weights are not a whole number of 256-weight lattice blocks");
        }
    }
}
