namespace QuantSharp.Formats;

/// <summary>Writes a file so that readers see either the old file or the complete new one, never a half-written one,
/// even after a crash or power loss.</summary>
public static class AtomicFile
{
    /// <summary>Calls <paramref name="write"/> on a temporary sibling (opened for reading and writing, so it can be memory-mapped) of <paramref name="path"/> (see
    /// <see cref="OutputTemporaries"/>), flushes it to disk, renames it over <paramref name="path"/> and flushes the folder;
    /// on any failure the temporary file is deleted and the error rethrown. Stale temporaries of the same path left by
    /// killed runs are removed first.</summary>
    public static void Write(string path, Action<FileStream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        OutputTemporaries.RemoveStale(path);
        string tmp = OutputTemporaries.Claim(path);
        try
        {
            using (var output = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20))
            {
                write(output);
                output.Flush(flushToDisk: true);
            }

            OutputTemporaries.Publish(tmp, () => File.Move(tmp, path, overwrite: true));
            DiskSync.Parent(path);
        }
        catch
        {
            OutputTemporaries.Delete(tmp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, output => output.Write(copy));
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8, no BOM) to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>Copies <paramref name="source"/> to <paramref name="path"/> atomically.</summary>
    public static void Copy(string source, string path) => Write(path, output =>
    {
        using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        input.CopyTo(output);
    });
}
