using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace QuantSharp.Formats;

/// <summary>
/// The temporary siblings in which outputs are built before they are renamed into place, named
/// <c>.NAME.qs-tmp-PID-ID</c> after the output NAME and the process that owns them. A run that ends normally, fails,
/// is cancelled, or is interrupted by SIGINT/SIGTERM/SIGHUP (through <see cref="RemoveLive"/>) deletes its own; one
/// killed outright (SIGKILL, power loss) leaves them, and the next write of the same output removes those whose owner
/// process is gone (<see cref="RemoveStale"/>) — never those of a run still going, so two concurrent runs cannot delete
/// each other's work.
/// </summary>
public static class OutputTemporaries
{
    private const string Marker = ".qs-tmp-";
    private static readonly ConcurrentDictionary<string, byte> s_live = new(StringComparer.Ordinal);
    private static readonly int s_pid = Environment.ProcessId;

    // Publishing (the final rename) and the signal-time cleanup exclude each other: a cleanup that deleted a folder while
    // it was being renamed into place would leave a partial output under the final name.
    private static readonly Lock s_gate = new();
    private static bool s_ending;

    /// <summary>A new temporary path beside <paramref name="target"/> (nothing is created), owned by this process until
    /// <see cref="Release"/>.</summary>
    /// <exception cref="OperationCanceledException">The process is ending (<see cref="RemoveLive"/> ran).</exception>
    public static string Claim(string target)
    {
        ThrowIfEnding();
        string full = Path.GetFullPath(Path.TrimEndingDirectorySeparator(target));
        string parent = Path.GetDirectoryName(full) ?? throw new QuantSharpException($"{target}: cannot write at the file-system root");
        string temp = Path.Combine(parent, $".{Path.GetFileName(full)}{Marker}{s_pid.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}");
        s_live[temp] = 0;
        return temp;
    }

    /// <summary>Runs <paramref name="rename"/>, which moves <paramref name="temp"/> into place, and stops tracking it; never
    /// at the same time as <see cref="RemoveLive"/>, and not at all once it has run.</summary>
    /// <exception cref="OperationCanceledException">The process is ending: the output is not published.</exception>
    public static void Publish(string temp, Action rename)
    {
        ArgumentNullException.ThrowIfNull(rename);
        lock (s_gate)
        {
            ThrowIfEnding();
            rename();
            Release(temp);
        }
    }

    /// <summary>Stops tracking <paramref name="temp"/> (it was renamed into place or deleted).</summary>
    public static void Release(string temp) => s_live.TryRemove(temp, out _);

    /// <summary>Deletes <paramref name="temp"/> (file or folder) if it exists, then stops tracking it.</summary>
    public static void Delete(string temp)
    {
        DeletePath(temp);
        Release(temp);
    }

    /// <summary>Deletes the temporaries of <paramref name="target"/> left by processes that are no longer running.</summary>
    /// <returns>How many were removed.</returns>
    public static int RemoveStale(string target)
    {
        string full = Path.GetFullPath(Path.TrimEndingDirectorySeparator(target));
        string? parent = Path.GetDirectoryName(full);
        if (parent is null || !Directory.Exists(parent))
        {
            return 0;
        }

        string prefix = $".{Path.GetFileName(full)}{Marker}";
        int removed = 0;
        foreach (string entry in Directory.EnumerateFileSystemEntries(parent, prefix + "*"))
        {
            if (IsStale(entry, prefix))
            {
                try
                {
                    DeletePath(entry);
                    removed++;
                }
                catch (IOException)
                {
                    // Another run removed it first, or it is still being torn down: harmless, the next run retries.
                }
            }
        }

        return removed;
    }

    /// <summary>Deletes every temporary this process still owns and refuses new ones and every later publish: what a
    /// signal handler calls before the process ends, so an interrupted run leaves nothing behind and no partial output.</summary>
    /// <returns>How many were removed.</returns>
    public static int RemoveLive()
    {
        lock (s_gate)
        {
            s_ending = true;
            return RemoveAllLive();
        }
    }

    private static void ThrowIfEnding()
    {
        if (s_ending)
        {
            throw new OperationCanceledException("the process is ending; the output is not written");
        }
    }

    private static int RemoveAllLive()
    {
        int removed = 0;
        foreach (string temp in s_live.Keys)
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                try
                {
                    DeletePath(temp);
                    Release(temp);
                    removed++;
                    break;
                }
                catch (IOException)
                {
                    // A writer thread added a file while the folder was being deleted: go again.
                }
            }
        }

        return removed;
    }

    private static bool IsStale(string entry, string prefix)
    {
        string rest = Path.GetFileName(entry)[prefix.Length..];
        int dash = rest.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0 || !int.TryParse(rest.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
        {
            return false;
        }

        return pid == s_pid ? !s_live.ContainsKey(entry) : !IsRunning(pid);
    }

    private static bool IsRunning(int pid)
    {
        if (OperatingSystem.IsLinux())
        {
            return Directory.Exists($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}");
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static void DeletePath(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
        else
        {
            File.Delete(path);
        }
    }
}
