using QuantSharp.Formats;
using QuantSharp.Models;

namespace QuantSharp.Cli;

/// <summary>Loading a model for a verb, with the text → ids step shared by generate and perplexity.</summary>
internal static class ModelOptions
{
    public static LoadedModel Load(string path)
    {
        var progress = new StderrProgress("loading");
        LoadedModel loaded = ModelLoader.Load(path, new LoadOptions());
        progress.Report(1, 1, Path.GetFileName(Path.TrimEndingDirectorySeparator(path)));
        return loaded;
    }

    /// <summary>Parses "1,2,3" into ids.</summary>
    public static int[] ParseIds(string text)
    {
        try
        {
            return text.Split(new[] { ',', ' ' }, StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        }
        catch (FormatException)
        {
            throw new UsageException($"--ids '{text}' is not a comma-separated list of integers");
        }
    }

    public static ITextTokenizer Tokenizer(LoadedModel loaded) => loaded.RequireTokenizer();
}
