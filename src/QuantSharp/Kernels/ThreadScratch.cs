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
    internal static byte* Get(nuint bytes)
    {
        if (t_size < bytes)
        {
            if (t_buffer != null)
            {
                NativeMemory.AlignedFree(t_buffer);
            }

            nuint size = Math.Max(bytes, 64 * 1024);
            t_buffer = (byte*)NativeMemory.AlignedAlloc(size, 64);
            t_size = size;
        }

        return t_buffer;
    }

    /// <summary>Same as <see cref="Get"/> typed as floats.</summary>
    internal static float* Floats(long count) => (float*)Get((nuint)(count * sizeof(float)));
}
