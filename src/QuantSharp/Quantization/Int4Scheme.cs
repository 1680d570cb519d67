using System.Runtime.InteropServices;
using QuantSharp.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// int4 grouped along the input dimension (groups of <see cref="QuantSpec.GroupSize"/> inputs of one row),
/// symmetric or asymmetric.
/// </summary>
/// <remarks>
/// Codes <c>q</c> are unsigned 0..15. Dequantization: <c>W'[r, c] = scale[r, g] · (q[r, c] − zero[r, g])</c> with
/// <c>g = c / GroupSize</c>; symmetric weights have no <c>zeros</c> part and an implicit zero of 8.
/// <list type="bullet">
/// <item>Symmetric: <c>scale = absmax / 7</c> rounded up to the next F16 (so <c>|W| / scale ≤ 7</c>, no clipping),
/// <c>q = round_half_even(W / scale) + 8</c> ∈ 1..15 (code 0 unused, the grid is symmetric around 0).</item>
/// <item>Asymmetric (GPTQ-style, 0 always representable): <c>lo = min(min W, 0)</c>, <c>hi = max(max W, 0)</c>,
/// <c>scale = (hi − lo) / 15</c> rounded up to F16, <c>zero = clamp(round(−lo / scale), 0, 15)</c>,
/// <c>q = clamp(round(W / scale) + zero, 0, 15)</c>.</item>
/// </list>
/// Either way the error is at most <c>scale / 2</c>. A group of zeros gets scale 0 (and zero 0, or 8 when symmetric).
/// Parts: <c>qweight</c> U8 <c>[rows, ceil(cols / 32) · 16]</c> in the 4-bit layout of <see cref="PackLayout"/>;
/// <c>scales</c> F16 <c>[rows, ceil(cols / GroupSize)]</c>; <c>zeros</c> U8 <c>[rows, ceil(cols / GroupSize)]</c>
/// (asymmetric only, one zero point per byte). A row whose length is not a multiple of 32 is padded with the code
/// of its last group's zero point (value exactly 0); a last group shorter than <c>GroupSize</c> gets its scale from
/// its real inputs only, and the kernels multiply padding by zero activations, so padding never reaches a result.
/// </remarks>
public sealed class Int4Scheme : IQuantScheme
{
    /// <summary>Creates the scheme for an int4 <paramref name="spec"/>.</summary>
    public Int4Scheme(QuantSpec spec)
    {
        if (spec.Kind != QuantSchemeKind.Int4)
        {
            throw new ArgumentException($"{spec} is not an int4 spec", nameof(spec));
        }

        Spec = spec;
    }

    /// <inheritdoc />
    public QuantSpec Spec { get; }

    /// <summary>Groups per row.</summary>
    public static int Groups(int cols, int groupSize) => (cols + groupSize - 1) / groupSize;

    /// <summary>Rounds a positive float up to the nearest F16 that is not smaller.</summary>
    internal static Half RoundUpToHalf(float value, string name)
    {
        Half h = (Half)value;
        if ((float)h < value)
        {
            h = Half.BitIncrement(h);
        }

        if (Half.IsInfinity(h))
        {
            throw new QuantSharpException($"tensor '{name}': a group scale of {value} exceeds the F16 range; the weights are too large for int4");
        }

        return h;
    }

    /// <summary>Quantizes one row into unpacked codes (one per byte) plus per-group scales and zero points.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, int groupSize, bool symmetric, Span<byte> codes, Span<Half> scales, Span<byte> zeros, string name = "")
    {
        int cols = source.Length;
        for (int g = 0, start = 0; start < cols; g++, start += groupSize)
        {
            ReadOnlySpan<float> w = source.Slice(start, Math.Min(groupSize, cols - start));
            Span<byte> q = codes.Slice(start, w.Length);
            float lo = 0, hi = 0;
            foreach (float v in w)
            {
                lo = Math.Min(lo, v);
                hi = Math.Max(hi, v);
            }

            if (symmetric)
            {
                float absmax = Math.Max(-lo, hi);
                Half scale = absmax == 0 ? Half.Zero : RoundUpToHalf(absmax / 7f, name);
                scales[g] = scale;
                if (scale == Half.Zero)
                {
                    q.Fill(8);
                    continue;
                }

                float inv = 1f / (float)scale;
                for (int i = 0; i < w.Length; i++)
                {
                    q[i] = (byte)(Math.Clamp(MathF.Round(w[i] * inv), -8f, 7f) + 8);
                }
            }
            else
            {
                Half scale = hi == lo ? Half.Zero : RoundUpToHalf((hi - lo) / 15f, name);
                scales[g] = scale;
                if (scale == Half.Zero)
                {
                    zeros[g] = 0;
                    q.Clear();
                    continue;
                }

                float s = (float)scale;
                float inv = 1f / s;
                int zero = (int)Math.Clamp(MathF.Round(-lo / s), 0f, 15f);
                zeros[g] = (byte)zero;
                for (int i = 0; i < w.Length; i++)
                {
                    q[i] = (byte)Math.Clamp(MathF.Round(w[i] * inv) + zero, 0f, 15f);
                }
            }
        }
    }

    /// <summary>Effectively computes <c>destination[c] = scales[c / groupSize] · (code(c) − zero(c / groupSize))</c> for
    /// c &lt; destination.Length; <paramref name="zeros"/> empty means symmetric (zero 8).</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> packedRow, ReadOnlySpan<Half> scales, ReadOnlySpan<byte> zeros, int groupSize, Span<float> destination)
    {
        for (int c = 0; c < destination.Length; c++)
        {
            int g = c / groupSize;
            int zero = zeros.IsEmpty ? 8 : zeros[g];
            destination[c] = (float)scales[g] * (PackLayout.Code4(packedRow, c) - zero);
        }
    }

    /// <inheritdoc />
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols)
    {
        QuantChecks.CheckWeights(name, weights, rows, cols);
        int groups = Groups(cols, Spec.GroupSize);
        int rowBytes = PackLayout.RowBytes4(cols);
        byte[] q = QuantizedTensor.AllocatePinned((long)rows * rowBytes);
        byte[] s = QuantizedTensor.AllocatePinned((long)rows * groups * 2);
        byte[] z = QuantizedTensor.AllocatePinned(Spec.Symmetric ? 0 : (long)rows * groups);
        Span<Half> scales = MemoryMarshal.Cast<byte, Half>(s.AsSpan());
        byte[] codes = new byte[cols];
        for (int r = 0; r < rows; r++)
        {
            Span<byte> zeroRow = Spec.Symmetric ? Span<byte>.Empty : z.AsSpan(r * groups, groups);
            QuantizeRow(weights.Slice(r * cols, cols), Spec.GroupSize, Spec.Symmetric, codes, scales.Slice(r * groups, groups), zeroRow, name);
            byte pad = Spec.Symmetric ? (byte)8 : zeroRow[groups - 1];
            PackLayout.Pack4(codes, q.AsSpan(r * rowBytes, rowBytes), pad);
        }

        var parts = new List<QuantizedPart>
        {
            new("qweight", DType.U8, [rows, rowBytes], q),
            new("scales", DType.F16, [rows, groups], s),
        };
        if (!Spec.Symmetric)
        {
            parts.Add(new("zeros", DType.U8, [rows, groups], z));
        }

        return new QuantizedTensor(name, Spec, rows, cols, [.. parts]);
    }

    /// <inheritdoc />
    public void DequantizeRow(QuantizedTensor packed, int row, Span<float> destination)
    {
        int cols = packed.Cols;
        int groups = Groups(cols, Spec.GroupSize);
        int rowBytes = PackLayout.RowBytes4(cols);
        ReadOnlySpan<Half> scales = MemoryMarshal.Cast<byte, Half>(packed["scales"].Data.AsSpan()).Slice(row * groups, groups);
        ReadOnlySpan<byte> zeros = Spec.Symmetric ? ReadOnlySpan<byte>.Empty : packed["zeros"].Data.AsSpan(row * groups, groups);
        DequantizeRow(packed["qweight"].Data.AsSpan(row * rowBytes, rowBytes), scales, zeros, Spec.GroupSize, destination[..cols]);
    }
}
