using System.Text.Json.Nodes;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Formats.Gguf;

/// <summary>Llama 3.1-style <c>rope_scaling</c> written to GGUF as llama.cpp's <c>rope_freqs.weight</c> and read back.</summary>
public sealed class GgufRopeScalingTests(ITestOutputHelper output)
{
    private const int Windows = 2, Context = 128;

    /// <summary>stories260K with <c>rope_scaling</c> llama3 (factor 8, original context 32), so that the windows'
    /// positions past 32 see rescaled frequencies (<see cref="ExpectedDivisors"/>).</summary>
    private static string ScaledStories(TempDir dir)
    {
        string model = dir.File("stories-llama3-scaled");
        Directory.CreateDirectory(model);
        foreach (string f in Directory.GetFiles(TestPaths.Stories260K))
        {
            File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        }

        string configPath = Path.Combine(model, "config.json");
        JsonNode config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["rope_scaling"] = JsonNode.Parse("""{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32}""");
        File.WriteAllText(configPath, config.ToJsonString());
        return model;
    }

    /// <summary>llama.cpp's converter, worked by hand for head dim 8, base 10⁴, factor 8, low/high 1/4, original 32:
    /// wavelengths 2π·10^(k) for k = 0, 1, 2, 3 = 6.28, 62.8, 628, 6283; below 32/4 = 8 kept (1), above 32/1 = 32 divided by 8.</summary>
    private static readonly float[] ExpectedDivisors = [1f, 8f, 8f, 8f];

    private static readonly Lazy<int[]> s_tokens = new(() =>
    {
        using LoadedModel m = ModelLoader.Load(TestPaths.Stories260K);
        string text = File.ReadAllText(Path.Combine(TestPaths.BrownLlama, "heldout.txt"));
        return m.RequireTokenizer().Encode(text).Take(Windows * (Context - 1)).ToArray();
    });

    private static int[] Tokens() => s_tokens.Value;

    private static double Perplexity(TransformerModel model)
        => PerplexityEvaluator.Evaluate(model, Tokens(), 1, new PerplexityOptions { Context = Context, MaxWindows = Windows }).Perplexity;

    [Fact]
    public void Llama3RopeScalingTravelsAsRopeFreqsAndRunsAlikeAfterReload()
    {
        using var dir = new TempDir();
        string gguf = dir.File("scaled.gguf");
        double source;
        using (LoadedModel m = ModelLoader.Load(ScaledStories(dir)))
        {
            source = Perplexity(m.Model);
            GgufExporter.Export(m, gguf, new GgufExportOptions { Type = GgmlType.F32 });
        }

        using (GgufFile f = GgufFile.Open(gguf))
        {
            GgufTensorInfo freqs = f.GetTensor(GgufLlamaLayout.RopeFrequencies);
            Assert.Equal([4L], freqs.Dimensions);
            Assert.Equal(ExpectedDivisors, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(f.Tensors[GgufLlamaLayout.RopeFrequencies].Bytes).ToArray());
        }

        double unscaled;
        using (LoadedModel plain = ModelLoader.Load(TestPaths.Stories260K))
        {
            unscaled = Perplexity(plain.Model);
        }

        using LoadedModel back = ModelLoader.Load(gguf);
        Assert.Equal(ExpectedDivisors, back.Model.Config.RopeScaling!.PairDivisors);
        double reloaded = Perplexity(back.Model);
        output.WriteLine($"perplexity: scaled {source:F4}, GGUF reloaded {reloaded:F4}, unscaled {unscaled:F4}");
        Assert.InRange(reloaded / source, 1 - 1e-5, 1 + 1e-5);
        Assert.True(Math.Abs((unscaled / source) - 1) > 0.01, "the scaling must matter at these positions for the test to mean anything");
    }

    [SkippableFact]
    public void LlamaCppRunsTheRopeFreqsFileWithQuantSharpsPerplexity()
    {
        LlamaCpp.SkipUnlessAvailable();
        using var dir = new TempDir();
        string gguf = dir.File("scaled.gguf");
        using (LoadedModel m = ModelLoader.Load(ScaledStories(dir)))
        {
            GgufExporter.Export(m, gguf, new GgufExportOptions { Type = GgmlType.F32 });
        }

        using LoadedModel back = ModelLoader.Load(gguf);
        double ours = Perplexity(back.Model);
        int[] tokens = Tokens();
        int[][] windows = Enumerable.Range(0, Windows).Select(w => (int[])[1, .. tokens.AsSpan(w * (Context - 1), Context - 1)]).ToArray();
        LlamaCpp.Result theirs = LlamaCpp.Perplexity(windows, [gguf], 2).Single();
        output.WriteLine($"QuantSharp {ours:F4}, llama.cpp {theirs.Ppl:F4}");
        Assert.InRange(ours / theirs.Ppl, 1 - 0.005, 1 + 0.005);
    }
}
