using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization.Gguf;

/// <summary>A GGUF tensor's values as floats, decoded by <see cref="GgufDequantize"/> (the reader in Formats/Gguf keeps
/// only the bytes).</summary>
public static unsafe class GgufTensorValues
{
    /// <summary>Dequantizes row <paramref name="row"/> (ne[0] values) into <paramref name="destination"/>.</summary>
    /// <exception cref="GgufException">The type has no dequantizer (<see cref="GgufError.UnsupportedTensorType"/>).</exception>
    public static void DequantizeRow(this GgufTensorInfo tensor, long row, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((ulong)row, (ulong)tensor.RowCount, nameof(row));
        if (!GgmlTypeInfo.CanDequantize(tensor.Type))
        {
            throw new GgufException(GgufError.UnsupportedTensorType, tensor.File.Location, tensor.Name, $"tensor type {tensor.Type} cannot be dequantized by QuantSharp");
        }

        int n = checked((int)tensor.RowLength);
        if (destination.Length < n)
        {
            throw new ArgumentException($"tensor '{tensor.Name}': destination holds {destination.Length} values, a row has {n}", nameof(destination));
        }

        fixed (float* d = destination)
        {
            GgufDequantize.Row(tensor.Type, tensor.Pointer + (row * tensor.RowBytes), d, n);
        }
    }

    /// <summary>Dequantizes the whole tensor to a new float array (small tensors: norms, biases; tests).</summary>
    public static float[] ToFloatArray(this GgufTensorInfo tensor)
    {
        var result = new float[checked((int)tensor.ElementCount)];
        int n = checked((int)tensor.RowLength);
        for (long r = 0; r < tensor.RowCount; r++)
        {
            tensor.DequantizeRow(r, result.AsSpan((int)(r * n), n));
        }

        return result;
    }
}
