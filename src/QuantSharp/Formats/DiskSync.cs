using System.Runtime.InteropServices;

namespace QuantSharp.Formats;

/// <summary>
/// Makes a rename durable: the renamed file's data must reach the disk before the rename does, and the rename itself
/// lives in its folder, which needs its own <c>fsync</c> (.NET has no API for a folder, hence the libc calls).
/// Elsewhere than Linux and macOS a folder is left to the OS.
/// </summary>
internal static partial class DiskSync
{
    private const int ReadOnly = 0;

    /// <summary>Flushes <paramref name="path"/> (a file or a folder) to disk.</summary>
    public static void Path(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            if (File.Exists(path))
            {
                using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
                f.Flush(flushToDisk: true);
            }

            return;
        }

        int fd = Open(path, ReadOnly);
        if (fd < 0)
        {
            throw new IOException($"{path}: cannot open to flush it to disk (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"{path}: fsync failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Flushes every file under <paramref name="folder"/>, its subfolders and the folder itself.</summary>
    public static void Tree(string folder)
    {
        foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            Path(file);
        }

        foreach (string sub in Directory.EnumerateDirectories(folder, "*", SearchOption.AllDirectories))
        {
            Path(sub);
        }

        Path(folder);
    }

    /// <summary>Flushes the folder that holds <paramref name="path"/> (after a rename into it).</summary>
    public static void Parent(string path)
    {
        if (System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) is string parent)
        {
            Path(parent);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
