namespace QuantSharp.Kernels;

/// <summary>The four results of a 4-row decode tile written to consecutive outputs.</summary>
internal static unsafe class Tile4
{
    /// <summary><c>y[0..3] = result[0..3]</c> (one unaligned 16-byte load and store).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Store(float* y, float* result) => Vector128.Load(result).Store(y);
}
