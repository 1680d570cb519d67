namespace QuantSharp.Formats;

/// <summary>
/// A data file a writer fills before it can write the header in front of it: a temporary of this process
/// (<see cref="OutputTemporaries"/>, so a killed run's is removed by the next one), deleted on <see cref="Dispose"/>.
/// </summary>
internal sealed class ScratchFile : IDisposable
{
    private readonly string _path;
    private bool _disposed;

    /// <summary>Creates the file, named after <paramref name="name"/>, in <paramref name="directory"/> (default: the
    /// system temp folder), after deleting the ones killed runs left there.</summary>
    /// <exception cref="OperationCanceledException">The process is ending.</exception>
    public ScratchFile(string? directory, string name)
    {
        string target = Path.Combine(directory ?? Path.GetTempPath(), name);
        OutputTemporaries.RemoveStale(target);
        _path = OutputTemporaries.Claim(target);
        Stream = new FileStream(_path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
    }

    /// <summary>The file, open for reading and writing.</summary>
    public FileStream Stream { get; }

    /// <summary>Closes and deletes the file (once).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Stream.Dispose();
        OutputTemporaries.Delete(_path);
    }
}
