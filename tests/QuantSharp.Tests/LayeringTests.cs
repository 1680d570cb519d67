using System.Text.RegularExpressions;

namespace QuantSharp.Tests;

/// <summary>
/// The library's namespaces depend one way: Tensors/Templates ← Formats ← Quantization/Tokenizers ← Kernels ← Models ←
/// Calibration/Evaluation/Serving. Read from the sources: every <c>using QuantSharp.X;</c>, every qualified
/// <c>QuantSharp.X.</c> or <c>X.Type</c> reference, doc <c>cref</c>s included, must point to a lower layer (or the same one).
/// </summary>
public sealed partial class LayeringTests
{
    private static readonly Dictionary<string, int> s_layers = new(StringComparer.Ordinal)
    {
        ["Tensors"] = 0, ["Templates"] = 0,
        ["Formats"] = 1,
        ["Quantization"] = 2, ["Tokenizers"] = 2,
        ["Kernels"] = 3,
        ["Models"] = 4,
        ["Calibration"] = 5, ["Evaluation"] = 5, ["Serving"] = 5,
    };

    [GeneratedRegex(@"^namespace QuantSharp(?:\.(\w+))?", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    [GeneratedRegex(@"\bQuantSharp\.(\w+)\b|(?<![\w.])(Tensors|Templates|Formats|Quantization|Tokenizers|Kernels|Models|Calibration|Evaluation|Serving)\.[A-Z]")]
    private static partial Regex Reference();

    private static string LibraryFolder() => Path.Combine(TestPaths.RepositoryRoot, "src", "QuantSharp");

    /// <summary>(from layer, to layer, file) for every reference in the library's sources.</summary>
    private static IEnumerable<(string From, string To, string File)> Edges()
    {
        string root = LibraryFolder();
        foreach (string file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(root, file);
            if (relative.StartsWith("obj", StringComparison.Ordinal) || relative.StartsWith("bin", StringComparison.Ordinal))
            {
                continue;
            }

            string text = File.ReadAllText(file);
            Match ns = NamespaceLine().Match(text);
            if (!ns.Success || !ns.Groups[1].Success)
            {
                continue; // the root namespace (QuantSharpException) sits below every layer
            }

            string from = ns.Groups[1].Value;
            foreach (string line in text.Split('\n'))
            {
                string code = line.TrimStart();
                if (code.StartsWith("namespace ", StringComparison.Ordinal) || (code.StartsWith("//", StringComparison.Ordinal) && !code.StartsWith("///", StringComparison.Ordinal)))
                {
                    continue;
                }

                foreach (Match m in Reference().Matches(line))
                {
                    string to = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
                    if (s_layers.ContainsKey(to) && to != from)
                    {
                        yield return (from, to, relative);
                    }
                }
            }
        }
    }

    [Fact]
    public void EveryNamespaceHasALayer()
    {
        string root = LibraryFolder();
        string[] folders = Directory.GetDirectories(root).Select(Path.GetFileName).Where(n => n is not ("bin" or "obj")).ToArray()!;
        Assert.All(folders, f => Assert.True(s_layers.ContainsKey(f!), $"src/QuantSharp/{f} has no layer in LayeringTests"));
    }

    [Fact]
    public void References_PointDownTheLayers()
    {
        var edges = Edges().ToList();
        Assert.NotEmpty(edges);
        string[] upward = edges.Where(e => s_layers[e.To] >= s_layers[e.From])
            .Select(e => $"{e.File}: {e.From} -> {e.To}").Distinct().Order(StringComparer.Ordinal).ToArray();
        Assert.True(upward.Length == 0, "references up or across the layers:\n" + string.Join('\n', upward));
    }
}
