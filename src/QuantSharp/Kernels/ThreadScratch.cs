using System.Runtime.InteropServices;

namespace QuantSharp.Kernels;

/// <summary>Per-thread scratch memory for kernels: grown on first use, then reused, so steady-state calls allocate nothing.</summary>
internal static unsafe class ThreadScratch
{
    [ThreadStatic]
    private static byte* t_buffer;

    [ThreadStatic]
    private static nuint t_size;

    /// <summary>A 64-byte aligned buffer of at least <paramref name="bytes"/> bytes, owned by the calling thread.</summary>
    internal static byte* Get(nuint bytes) => Grow(ref t_buffer, ref t_size, bytes);

    /// <summary>Same as <see cref="Get"/> typed as floats.</summary>
    internal static float* Floats(long count) => (float*)Get((nuint)(count * sizeof(float)));

    [ThreadStatic]
    private static byte* t_tile;

    [ThreadStatic]
    private static nuint t_tileSize;

    /// <summary>A second per-thread buffer, independent of <see cref="Get"/>'s (which may hold a call's quantized
    /// activations while workers unpack weight tiles on the same thread).</summary>
    internal static byte* Tile(nuint bytes) => Grow(ref t_tile, ref t_tileSize, bytes);

    private static byte* Grow(ref byte* buffer, ref nuint size, nuint bytes)
    {
        if (size < bytes)
        {
            if (buffer != null)
            {
                NativeMemory.AlignedFree(buffer);
            }

            size = Math.Max(bytes, 64 * 1024);
            buffer = (byte*)NativeMemory.AlignedAlloc(size, 64);
        }

        return buffer;
    }
}
