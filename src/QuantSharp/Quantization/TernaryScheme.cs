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
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols) => Quantize(name, weights, rows, cols, []);

    /// <summary>
    /// Ternary with each row's or group's scale chosen under per-column importances (one per input column, e.g. an
    /// importance matrix entry), or the absmean scale when <paramref name="importance"/> is empty. The chosen scale
    /// minimises <c>Σ e_i · (w_i − s·t_i)²</c> with <c>e</c> = <see cref="GroupGrid.ErrorWeights"/> (as for the integer grids) over 0.5×…2× the absmean in steps of 5 %, then one weighted least-squares refit
    /// <c>s = Σ e·w·t / Σ e·t²</c> for its codes if that lowers the error.
    /// </summary>
    /// <exception cref="QuantSharpException">NaN/Inf weights, importances that are not <paramref name="cols"/> finite
    /// values ≥ 0, or importances with one scale per tensor.</exception>
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols, ReadOnlySpan<float> importance)
    {
        QuantChecks.CheckWeights(name, weights, rows, cols);
        if (!importance.IsEmpty)
        {
            QuantChecks.CheckImportance(name, importance, cols);
            if (Spec.Granularity == TernaryGranularity.PerTensor)
            {
                throw new QuantSharpException($"tensor '{name}': an importance matrix needs ternary scales per row or group, not per tensor");
            }
        }

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

                    scales[(r * perRow) + g] = importance.IsEmpty
                        ? (float)(sum / n)
                        : WeightedScale(weights.Slice((r * cols) + start, n), importance.Slice(start, n), (float)(sum / n));
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

    /// <summary>The scale of one row or group under importances (see the weighted <see cref="Quantize(string, ReadOnlySpan{float}, int, int, ReadOnlySpan{float})"/>).</summary>
    private static float WeightedScale(ReadOnlySpan<float> w, ReadOnlySpan<float> importance, float absmean)
    {
        if (absmean == 0)
        {
            return 0;
        }

        float[] e = GroupGrid.ErrorWeights(w, importance);
        double Error(ReadOnlySpan<float> values, float scale)
        {
            double sum = 0;
            for (int i = 0; i < values.Length; i++)
            {
                double d = values[i] - (scale * Ternarize(values[i], scale));
                sum += e[i] * d * d;
            }

            return sum;
        }

        float best = absmean;
        double bestError = Error(w, absmean);
        for (int k = 0; k <= 30; k++)
        {
            float candidate = absmean * (0.5f + (0.05f * k));
            double error = Error(w, candidate);
            if (error < bestError)
            {
                (best, bestError) = (candidate, error);
            }
        }

        double num = 0, den = 0;
        for (int i = 0; i < w.Length; i++)
        {
            int t = Ternarize(w[i], best);
            num += e[i] * w[i] * t;
            den += e[i] * t * t;
        }

        if (den > 0 && num > 0 && Error(w, (float)(num / den)) < bestError)
        {
            best = (float)(num / den);
        }

        return best;
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
