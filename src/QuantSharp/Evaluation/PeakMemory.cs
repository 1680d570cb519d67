using System.Diagnostics;

namespace QuantSharp.Evaluation;

/// <summary>Peak resident memory of this process, resettable on Linux (so each measured step gets its own peak).</summary>
public static class PeakMemory
{
    /// <summary>Resets the kernel's peak-RSS mark (Linux <c>/proc/self/clear_refs</c> ← 5); returns false where that is not possible.</summary>
    public static bool TryReset()
    {
        GC.Collect();
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }

    /// <summary>Peak working set since start or the last successful <see cref="TryReset"/>.</summary>
    public static long PeakBytes()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.PeakWorkingSet64;
    }
}
