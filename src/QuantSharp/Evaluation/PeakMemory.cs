using System.Diagnostics;

namespace QuantSharp.Evaluation;

/// <summary>The process's peak resident memory: Linux <c>VmHWM</c> from <c>/proc/self/status</c> (resident anonymous
/// and file-mapped pages, so touched weight pages count), elsewhere <see cref="Process.PeakWorkingSet64"/>.</summary>
public static class PeakMemory
{
    /// <summary>Peak resident bytes since the process started.</summary>
    public static long Bytes()
    {
        if (OperatingSystem.IsLinux() && TryReadStatus("VmHWM:", out long hwm))
        {
            return hwm;
        }

        using Process self = Process.GetCurrentProcess();
        return self.PeakWorkingSet64;
    }

    /// <summary>Resets the kernel's peak-RSS mark (Linux <c>/proc/self/clear_refs</c> ← 5) so the next measured step gets its
    /// own peak; returns false where that is not possible.</summary>
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

    /// <summary>Reads a "Name:   N kB" line of <c>/proc/self/status</c>.</summary>
    internal static bool TryReadStatus(string field, out long bytes)
    {
        bytes = 0;
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    string[] parts = line[field.Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                    bytes = long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) * (parts.Length > 1 && parts[1] == "kB" ? 1024 : 1);
                    return true;
                }
            }
        }
        catch (IOException)
        {
        }

        return false;
    }
}
