namespace QuantSharp.Fuzz;

/// <summary>
/// A per-process folder for parsers that read paths (memory-mapped checkpoints, tokenizer folders): each input is written
/// there under the file name the parser looks for. It lives in /dev/shm where that exists, so no input touches a disk.
/// </summary>
internal static class ScratchFolder
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        string parent = Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();
        string root = System.IO.Path.Combine(parent, $"quantsharp-fuzz-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(root, recursive: true);
        return root;
    });

    /// <summary>The folder named <paramref name="name"/> inside the scratch folder, created if missing, kept as it is.</summary>
    public static string Path(string name)
    {
        string folder = System.IO.Path.Combine(s_root.Value, name);
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>An empty folder named <paramref name="name"/> inside the scratch folder (emptied on each call).</summary>
    public static string Fresh(string name)
    {
        string folder = System.IO.Path.Combine(s_root.Value, name);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        Directory.CreateDirectory(folder);
        return folder;
    }
}
