using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using QuantSharp.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// int8, symmetric, one absmax scale per output row.
/// </summary>
/// <remarks>
/// Per row r: <c>scale[r] = max_c |W[r, c]| / 127</c>; <c>q = clamp(round_half_even(W / scale), -127, 127)</c>
/// (−128 is never produced, so the kernels' sign trick cannot overflow); a row of zeros gets scale 0 and q = 0.
/// Dequantization: <c>W'[r, c] = scale[r] · q[r, c]</c>; the error is at most <c>scale[r] / 2</c>.
/// Parts: <c>qweight</c> I8 <c>[rows, cols]</c> (one signed byte per weight, row-major, no padding) and
/// <c>scales</c> F32 <c>[rows]</c>.
/// </remarks>
public sealed class Int8Scheme : IQuantScheme
{
    /// <inheritdoc />
    public QuantSpec Spec { get; } = QuantSpec.Int8();

    /// <summary>Quantizes one row; returns its scale.</summary>
    public static float QuantizeRow(ReadOnlySpan<float> source, Span<sbyte> destination)
    {
        float absmax = TensorPrimitives.MaxMagnitude(source);
        absmax = Math.Abs(absmax);
        if (absmax == 0)
        {
            destination[..source.Length].Clear();
            return 0;
        }

        float scale = absmax / 127f;
        float inverse = 1f / scale;
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = (sbyte)Math.Clamp(MathF.Round(source[i] * inverse), -127f, 127f);
        }

        return scale;
    }

    /// <summary>Effectively computes <c>destination[i] = scale · codes[i]</c>.</summary>
    public static void DequantizeRow(ReadOnlySpan<sbyte> codes, float scale, Span<float> destination)
    {
        for (int i = 0; i < codes.Length; i++)
        {
            destination[i] = scale * codes[i];
        }
    }

    /// <inheritdoc />
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols)
    {
        QuantChecks.CheckWeights(name, weights, rows, cols);
        byte[] q = QuantizedTensor.AllocatePinned((long)rows * cols);
        byte[] s = QuantizedTensor.AllocatePinned((long)rows * sizeof(float));
        Span<sbyte> qs = MemoryMarshal.Cast<byte, sbyte>(q.AsSpan());
        Span<float> ss = MemoryMarshal.Cast<byte, float>(s.AsSpan());
        for (int r = 0; r < rows; r++)
        {
            ss[r] = QuantizeRow(weights.Slice(r * cols, cols), qs.Slice(r * cols, cols));
        }

        return new QuantizedTensor(name, Spec, rows, cols,
            new QuantizedPart("qweight", DType.I8, [rows, cols], q),
            new QuantizedPart("scales", DType.F32, [rows], s));
    }

    /// <inheritdoc />
    public void DequantizeRow(QuantizedTensor packed, int row, Span<float> destination)
    {
        int cols = packed.Cols;
        ReadOnlySpan<sbyte> q = MemoryMarshal.Cast<byte, sbyte>(packed["qweight"].Data.AsSpan(row * cols, cols));
        float scale = MemoryMarshal.Cast<byte, float>(packed["scales"].Data.AsSpan())[row];
        DequantizeRow(q, scale, destination);
    }
}
