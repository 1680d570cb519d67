namespace QuantSharp.Tests;

/// <summary>Finds ../shared (models and data) next to the repository root.</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> s_shared = new(FindShared);

    public static string Shared => s_shared.Value;

    public static string Model(string name) => Path.Combine(Shared, "models", name);

    public static string Data(string relative) => Path.Combine(Shared, "data", relative);

    public static string ChatTemplates => Data("chat-templates");

    public static string Stories260K => Model("stories260K/hf");

    public static string BrownLlama => Model("brown-llama");

    /// <summary>The repository root (the folder holding QuantSharp.slnx), found by walking up from the test binaries.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "QuantSharp.slnx")))
                {
                    return d.FullName;
                }
            }

            throw new DirectoryNotFoundException($"no QuantSharp.slnx above {AppContext.BaseDirectory}");
        }
    }

    private static string FindShared()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "shared");
            if (d.GetFiles("QuantSharp.slnx").Length > 0 || Directory.Exists(Path.Combine(d.FullName, ".git")))
            {
                string sibling = Path.Combine(d.Parent?.FullName ?? d.FullName, "shared");
                if (Directory.Exists(sibling))
                {
                    return sibling;
                }
            }

            if (Directory.Exists(Path.Combine(candidate, "models")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("../shared (models and data) not found next to the repository root");
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "qs-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, true);
        }
        catch (IOException)
        {
        }
    }
}
