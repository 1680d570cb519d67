namespace QuantSharp.Formats;

/// <summary>Writes a file so that readers see either the old file or the complete new one, never a half-written one.</summary>
public static class AtomicFile
{
    /// <summary>Calls <paramref name="write"/> on a temporary file next to <paramref name="path"/>, flushes it to disk and
    /// renames it over <paramref name="path"/>; on any failure the temporary file is deleted and the error rethrown.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string tmp = path + $".{Guid.NewGuid():N}.tmp";
        try
        {
            using (var output = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(output);
                output.Flush(true);
            }

            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
