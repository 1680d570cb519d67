using System.Runtime.InteropServices;
using QuantSharp.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// Ternary 1.58-bit weights {−1, 0, +1} with an absmean scale (BitNet b1.58), 2 bits per weight.
/// </summary>
/// <remarks>
/// For each scale unit U (the whole tensor, one row, or a group of <see cref="QuantSpec.GroupSize"/> inputs of a
/// row, per <see cref="QuantSpec.Granularity"/>): <c>scale = mean_{w∈U} |w|</c> over the real (unpadded) weights,
/// <c>t = clamp(round_half_even(w / scale), −1, 1)</c>; a unit of zeros gets scale 0 and t = 0. Dequantization:
/// <c>W' = scale · t</c>. Error: <c>|w − W'| ≤ scale / 2</c> where <c>|w| ≤ 1.5 · scale</c>, else <c>|w| − scale</c>
/// (clipping, inherent to the scheme). Stored code = <c>t + 1</c> ∈ {0, 1, 2} in the 2-bit layout of
/// <see cref="PackLayout"/>; padding (to a multiple of 32 inputs) is code 1 (value 0).
/// Parts: <c>qweight</c> U8 <c>[rows, ceil(cols / 32) · 8]</c>; <c>scales</c> F32 with shape <c>[1]</c> (per tensor),
/// <c>[rows]</c> (per row) or <c>[rows, ceil(cols / GroupSize)]</c> (per group). The granularity and group size are
/// also recorded in the weight's <c>qmeta</c>.
/// </remarks>
public sealed class TernaryScheme : IQuantScheme
{
    /// <summary>Creates the scheme for a ternary <paramref name="spec"/>.</summary>
    public TernaryScheme(QuantSpec spec)
    {
        if (spec.Kind != QuantSchemeKind.Ternary)
        {
            throw new ArgumentException($"{spec} is not a ternary spec", nameof(spec));
        }

        Spec = spec;
    }

    /// <inheritdoc />
    public QuantSpec Spec { get; }

    /// <summary>Inputs that share one scale within a row (the whole row for per-row and per-tensor scales).</summary>
    public static int ScaleSpan(QuantSpec spec, int cols) => spec.Granularity == TernaryGranularity.PerGroup ? spec.GroupSize : cols;

    /// <summary>Number of scales: 1, rows, or rows · ceil(cols / GroupSize).</summary>
    public static int ScaleCount(QuantSpec spec, int rows, int cols) => spec.Granularity switch
    {
        TernaryGranularity.PerTensor => 1,
        TernaryGranularity.PerRow => rows,
        _ => rows * ((cols + spec.GroupSize - 1) / spec.GroupSize),
    };

    /// <summary>The ternary value of <paramref name="w"/> under <paramref name="scale"/>.</summary>
    public static int Ternarize(float w, float scale) => scale == 0 ? 0 : (int)Math.Clamp(MathF.Round(w / scale), -1f, 1f);

    /// <summary>Effectively computes <c>destination[c] = scales[c / span] · (code(c) − 1)</c>.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> packedRow, ReadOnlySpan<float> rowScales, int span, Span<float> destination)
    {
        for (int c = 0; c < destination.Length; c++)
        {
            destination[c] = rowScales[c / span] * (PackLayout.Code2(packedRow, c) - 1);
        }
    }

    /// <inheritdoc />
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols)
    {
        QuantChecks.CheckWeights(name, weights, rows, cols);
        int span = ScaleSpan(Spec, cols);
        int perRow = (cols + span - 1) / span;
        int count = ScaleCount(Spec, rows, cols);
        byte[] s = QuantizedTensor.AllocatePinned(count * 4L);
        Span<float> scales = MemoryMarshal.Cast<byte, float>(s.AsSpan());
        if (Spec.Granularity == TernaryGranularity.PerTensor)
        {
            double sum = 0;
            foreach (float w in weights)
            {
                sum += Math.Abs(w);
            }

            scales[0] = (float)(sum / weights.Length);
        }
        else
        {
            for (int r = 0; r < rows; r++)
            {
                for (int g = 0; g < perRow; g++)
                {
                    int start = g * span, n = Math.Min(span, cols - start);
                    double sum = 0;
                    foreach (float w in weights.Slice((r * cols) + start, n))
                    {
                        sum += Math.Abs(w);
                    }

                    scales[(r * perRow) + g] = (float)(sum / n);
                }
            }
        }

        int rowBytes = PackLayout.RowBytes2(cols);
        byte[] q = QuantizedTensor.AllocatePinned((long)rows * rowBytes);
        byte[] codes = new byte[cols];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> rowScales = RowScales(scales, r, perRow);
            for (int c = 0; c < cols; c++)
            {
                codes[c] = (byte)(Ternarize(weights[(r * cols) + c], rowScales[c / span]) + 1);
            }

            PackLayout.Pack2(codes, q.AsSpan(r * rowBytes, rowBytes), 1);
        }

        long[] scaleShape = Spec.Granularity switch
        {
            TernaryGranularity.PerTensor => [1],
            TernaryGranularity.PerRow => [rows],
            _ => [rows, perRow],
        };
        return new QuantizedTensor(name, Spec, rows, cols,
            new QuantizedPart("qweight", DType.U8, [rows, rowBytes], q),
            new QuantizedPart("scales", DType.F32, scaleShape, s));
    }

    private ReadOnlySpan<float> RowScales(ReadOnlySpan<float> scales, int row, int perRow)
        => Spec.Granularity == TernaryGranularity.PerTensor ? scales[..1] : scales.Slice(row * perRow, perRow);

    /// <inheritdoc />
    public void DequantizeRow(QuantizedTensor packed, int row, Span<float> destination)
    {
        int cols = packed.Cols;
        int span = ScaleSpan(Spec, cols);
        int rowBytes = PackLayout.RowBytes2(cols);
        ReadOnlySpan<float> scales = MemoryMarshal.Cast<byte, float>(packed["scales"].Data.AsSpan());
        DequantizeRow(packed["qweight"].Data.AsSpan(row * rowBytes, rowBytes), RowScales(scales, row, (cols + span - 1) / span), span, destination[..cols]);
    }
}
