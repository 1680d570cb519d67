namespace QuantSharp.Tensors;

/// <summary>bfloat16 ↔ float conversion: a bfloat16 is the top 16 bits of an IEEE float32.</summary>
public static class BFloat16
{
    /// <summary>Widens a bfloat16 bit pattern to float (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Rounds a float to the nearest bfloat16 (ties to even), keeping NaN a NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Widens a span of bfloat16 bit patterns to floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("Destination is too short.", nameof(destination));
        }

        Span<uint> dst = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
        {
            ref ushort s = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(source);
            ref uint d = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(dst);
            for (; i + 16 <= source.Length; i += 16)
            {
                var v = System.Runtime.Intrinsics.Vector256.LoadUnsafe(ref s, (nuint)i);
                var (lo, hi) = System.Runtime.Intrinsics.Vector256.Widen(v);
                System.Runtime.Intrinsics.Vector256.ShiftLeft(lo, 16).StoreUnsafe(ref d, (nuint)i);
                System.Runtime.Intrinsics.Vector256.ShiftLeft(hi, 16).StoreUnsafe(ref d, (nuint)(i + 8));
            }
        }

        for (; i < source.Length; i++)
        {
            dst[i] = (uint)source[i] << 16;
        }
    }
}
