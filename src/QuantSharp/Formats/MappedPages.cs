using System.Runtime.InteropServices;

namespace QuantSharp.Formats;

/// <summary>Gives resident pages of a read-only file mapping back to the kernel (they are re-read on the next touch).</summary>
internal static unsafe partial class MappedPages
{
    private const int MadvDontNeed = 4;

    /// <summary>Advises the kernel that <paramref name="length"/> bytes at <paramref name="start"/> are not needed now.
    /// The range is widened to whole pages: for a read-only file mapping dropping a neighbour's page only costs a re-read.</summary>
    public static void Release(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0)
        {
            return;
        }

        long page = Environment.SystemPageSize;
        long begin = (long)start / page * page;
        long end = ((long)start + length + page - 1) / page * page;
        _ = Madvise((void*)begin, (nuint)(end - begin), MadvDontNeed);
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
