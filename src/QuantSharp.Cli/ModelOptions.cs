using System.CommandLine;
using QuantSharp.Formats;
using QuantSharp.Models;

namespace QuantSharp.Cli;

/// <summary>Loading a model for a verb, with the text → ids step shared by generate and perplexity.</summary>
internal static class ModelOptions
{
    public static LoadedModel Load(string path, LoadOptions? options = null)
    {
        var progress = new StderrProgress("loading");
        LoadedModel loaded = ModelLoader.Load(path, options ?? new LoadOptions());
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

    /// <summary>Load options for --quantize (null scheme: load as stored).</summary>
    public static LoadOptions LoadTimeQuantization(SchemeOptions scheme, ParseResult parse)
    {
        WeightFormat? format = scheme.Resolve(parse);
        return format is null ? new LoadOptions() : QuantizingLinearProvider.Options(format, scheme.IncludePatterns(parse), scheme.ExcludePatterns(parse));
    }

    /// <summary>Bytes of weights a decoded token streams: every block linear plus the LM head and the norms (an embedding
    /// row is negligible).</summary>
    public static long StreamedBytesPerToken(TransformerModel model)
        => model.BlockLinears().Sum(l => l.Weight.BytesInMemory) + (model.LmHead?.BytesInMemory ?? 0)
            + 4L * ((model.FinalNorm?.Length ?? 0) + model.Blocks.Sum(b => b.AttnNorm.Length + b.MlpNorm.Length));
}
