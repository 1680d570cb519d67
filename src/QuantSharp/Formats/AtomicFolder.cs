namespace QuantSharp.Formats;

/// <summary>
/// Writes a folder atomically: files go into a hidden temporary sibling (<see cref="OutputTemporaries"/>, same file
/// system, so the final step is a rename), and <see cref="Commit"/> flushes it to disk and moves it into place. Disposing
/// without committing deletes the temporary folder, so a failure or cancellation leaves neither a half-written output
/// nor the temporary folder; temporaries of the same output left by a killed run are removed when the next one begins.
/// </summary>
public sealed class AtomicFolder : IDisposable
{
    private bool _committed;

    private AtomicFolder(string target, string temp, bool overwrite)
    {
        Target = target;
        TempPath = temp;
        Overwrite = overwrite;
    }

    /// <summary>The folder that <see cref="Commit"/> creates.</summary>
    public string Target { get; }

    /// <summary>Where the files are written until <see cref="Commit"/>.</summary>
    public string TempPath { get; }

    /// <summary>Whether an existing non-empty <see cref="Target"/> is replaced.</summary>
    public bool Overwrite { get; }

    /// <summary>Starts writing <paramref name="target"/>.</summary>
    /// <exception cref="QuantSharpException"><paramref name="target"/> is a file, or a non-empty folder and <paramref name="overwrite"/> is false.</exception>
    public static AtomicFolder Begin(string target, bool overwrite)
    {
        string full = Path.GetFullPath(Path.TrimEndingDirectorySeparator(target));
        CheckTarget(full, overwrite);
        string parent = Path.GetDirectoryName(full) ?? throw new QuantSharpException($"{target}: cannot write a folder at the file-system root");
        Directory.CreateDirectory(parent);
        OutputTemporaries.RemoveStale(full);
        string temp = OutputTemporaries.Claim(full);
        try
        {
            Directory.CreateDirectory(temp);
        }
        catch
        {
            OutputTemporaries.Release(temp);
            throw;
        }

        return new AtomicFolder(full, temp, overwrite);
    }

    /// <summary>A path inside the temporary folder.</summary>
    public string File(string name) => Path.Combine(TempPath, name);

    /// <summary>Moves the temporary folder to <see cref="Target"/> (replacing an existing one if allowed).</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        CheckTarget(Target, Overwrite);
        DiskSync.Tree(TempPath);
        string? old = null;
        OutputTemporaries.Publish(TempPath, () =>
        {
            if (!Directory.Exists(Target))
            {
                Directory.Move(TempPath, Target);
                return;
            }

            // An empty folder, or --force: move the old one aside first so the swap is two renames, then delete it.
            old = OutputTemporaries.Claim(Target);
            Directory.Move(Target, old);
            try
            {
                Directory.Move(TempPath, Target);
            }
            catch
            {
                Directory.Move(old, Target);
                OutputTemporaries.Release(old);
                old = null;
                throw;
            }
        });
        _committed = true;
        DiskSync.Parent(Target);
        if (old is not null)
        {
            OutputTemporaries.Delete(old);
        }
    }

    private static void CheckTarget(string full, bool overwrite)
    {
        if (System.IO.File.Exists(full))
        {
            throw new QuantSharpException($"{full}: a file is in the way of the output folder");
        }

        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any() && !overwrite)
        {
            throw new QuantSharpException($"{full}: output folder exists and is not empty; pass --force to replace it");
        }
    }

    /// <summary>Deletes the temporary folder unless committed.</summary>
    public void Dispose()
    {
        if (!_committed)
        {
            OutputTemporaries.Delete(TempPath);
        }

        _committed = true;
    }
}
