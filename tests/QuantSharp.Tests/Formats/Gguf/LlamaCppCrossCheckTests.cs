using QuantSharp.Calibration;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Quantization;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Formats.Gguf;

/// <summary>
/// brown-llama exported to GGUF by QuantSharp, and quantized by llama.cpp itself, scored by both QuantSharp and
/// llama.cpp on the same 4 windows of heldout.txt (each [BOS] + 255 tokens, from an empty cache, every token scored).
/// Built once for the class: the exports, llama.cpp's quantizations and one node run over all files.
/// </summary>
public sealed class LlamaCppCrossCheckFixture : IDisposable
{
    public const int Windows = 4, Context = 256, Threads = 2;

    public LlamaCppCrossCheckFixture()
    {
        if (LlamaCpp.Unavailable is not null)
        {
            return;
        }

        using LoadedModel source = ModelLoader.Load(TestPaths.BrownLlama);
        var tok = source.RequireTokenizer();
        Bos = tok.BosId!.Value;
        Tokens = tok.Encode(File.ReadAllText(Path.Combine(TestPaths.BrownLlama, "heldout.txt"))).Take(Windows * (Context - 1)).ToArray();
        var files = new List<string>();
        foreach (GgmlType t in Ours)
        {
            string path = Dir.File($"brown-{GgmlTypeInfo.Name(t)}.gguf");
            GgufExporter.Export(source, path, new GgufExportOptions { Type = t });
            files.Add(path);
        }

        using (LoadedModel ternary = ModelLoader.Load(TestPaths.BrownLlama, new LoadOptions
        {
            LinearProvider = (config, weights) => new SchemeLinearProvider(config, weights, "ternary-g64"),
        }))
        {
            GgufExporter.Export(ternary, Dir.File(TernaryAsQ2_0), new GgufExportOptions { Type = GgmlType.Q2_0 });
            files.Add(Dir.File(TernaryAsQ2_0));
        }

        // llama.cpp refuses IQ1/IQ2/IQ3_XXS without an importance matrix: one from 16 × 128 tokens of tiny Shakespeare.
        CalibrationData calibration = CalibrationData.FromText(tok, File.ReadAllText(TestPaths.Data(Path.Combine("tinyshakespeare", "input.txt"))), 16, 128, 7, "tinyshakespeare");
        IReadOnlyDictionary<string, string> llamaNames = GgufTensorNames.BlockLinears(source.Model.Spec, source.Model.Blocks.Length);
        ImportanceMatrix importance = ImportanceCollector.Collect(source.Model, calibration);
        Dictionary<string, float[]> imatrix = llamaNames.ToDictionary(n => n.Value, n => importance.MeanSquares(n.Key)!);
        foreach ((string name, int ftype, _) in TheirsFileTypes)
        {
            string path = Dir.File($"brown-llamacpp-{name}.gguf");
            LlamaCpp.Quantize(Dir.File("brown-f16.gguf"), path, ftype, Threads, name.StartsWith("iq", StringComparison.Ordinal) ? imatrix : null);
            files.Add(path);
        }

        int[][] windows = Enumerable.Range(0, Windows).Select(w => (int[])[Bos, .. Tokens.AsSpan(w * (Context - 1), Context - 1)]).ToArray();
        LlamaCppResults = LlamaCpp.Perplexity(windows, files, Threads).ToDictionary(r => r.Model, r => r);
    }

    public static GgmlType[] Ours { get; } = [GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.TQ2_0, GgmlType.Q2_0, GgmlType.IQ4_NL,
        GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ3_XXS, GgmlType.IQ3_S];

    /// <summary>llama.cpp file types (<c>llama_ftype</c>) and the block type each puts in most block linears (its IQ2_M
    /// mix is the one built on IQ2_S).</summary>
    public static (string Name, int FileType, GgmlType Main)[] TheirsFileTypes { get; } =
    [
        ("q8_0", 7, GgmlType.Q8_0), ("q4_0", 2, GgmlType.Q4_0), ("q2_0", 41, GgmlType.Q2_0), ("iq4_nl", 25, GgmlType.IQ4_NL),
        ("q2_k", 10, GgmlType.Q2_K), ("q3_k_m", 12, GgmlType.Q3_K), ("iq4_xs", 30, GgmlType.IQ4_XS),
        ("iq2_xxs", 19, GgmlType.IQ2_XXS), ("iq2_xs", 20, GgmlType.IQ2_XS), ("iq2_m", 29, GgmlType.IQ2_S),
        ("iq3_xxs", 23, GgmlType.IQ3_XXS), ("iq3_s", 26, GgmlType.IQ3_S), ("iq1_s", 24, GgmlType.IQ1_S), ("iq1_m", 31, GgmlType.IQ1_M),
    ];

    /// <summary>brown-llama quantized to QuantSharp's ternary-g64 (one absmean scale per 64 inputs), repacked into Q2_0.</summary>
    public const string TernaryAsQ2_0 = "brown-ternary-as-q2_0.gguf";

    internal TempDir Dir { get; } = new();

    public int Bos { get; }

    public int[] Tokens { get; } = [];

    internal Dictionary<string, LlamaCpp.Result> LlamaCppResults { get; } = new();

    public double QuantSharpPerplexity(string path)
    {
        using LoadedModel m = ModelLoader.Load(path);
        return PerplexityEvaluator.Evaluate(m.Model, Tokens, Bos, new PerplexityOptions { Context = Context, MaxWindows = Windows }).Perplexity;
    }

    public void Dispose() => Dir.Dispose();
}

public sealed class LlamaCppCrossCheckTests(LlamaCppCrossCheckFixture fixture, ITestOutputHelper output) : IClassFixture<LlamaCppCrossCheckFixture>
{
    private const double Tolerance = 0.005;

    [SkippableFact]
    public void LlamaCppScoresOurGgufExportsLikeQuantSharp()
    {
        LlamaCpp.SkipUnlessAvailable();
        foreach (GgmlType t in LlamaCppCrossCheckFixture.Ours)
        {
            Check($"QuantSharp-written {GgmlTypeInfo.Name(t)}", fixture.Dir.File($"brown-{GgmlTypeInfo.Name(t)}.gguf"));
        }
    }

    [SkippableFact]
    public void GgufFilesQuantizedByLlamaCppRunInQuantSharpWithItsPerplexity()
    {
        LlamaCpp.SkipUnlessAvailable();
        foreach ((string name, _, GgmlType main) in LlamaCppCrossCheckFixture.TheirsFileTypes)
        {
            string path = fixture.Dir.File($"brown-llamacpp-{name}.gguf");
            using (GgufFile f = GgufFile.Open(path))
            {
                // llama.cpp's own per-tensor choices (e.g. Q6_K for output.weight) are what QuantSharp has to read.
                output.WriteLine($"{name}: " + string.Join(", ", f.TensorsInOrder.GroupBy(t => t.Type).Select(g => $"{g.Count()} × {g.Key}")));
                Assert.Contains(f.TensorsInOrder, t => t.Type == main);
            }

            Check($"llama.cpp-written {name}", path);
        }
    }

    [SkippableFact]
    public void TernaryRepackedIntoQ2_0_ScoresAlikeInLlamaCpp()
    {
        LlamaCpp.SkipUnlessAvailable();
        Check("QuantSharp ternary repacked into q2_0", fixture.Dir.File(LlamaCppCrossCheckFixture.TernaryAsQ2_0));
    }

    private void Check(string what, string path)
    {
        double ours = fixture.QuantSharpPerplexity(path);
        double theirs = fixture.LlamaCppResults[path].Ppl;
        Assert.Equal(LlamaCppCrossCheckFixture.Windows * (LlamaCppCrossCheckFixture.Context - 1), fixture.LlamaCppResults[path].Scored);
        output.WriteLine($"{what}: QuantSharp {ours:F4}, llama.cpp {theirs:F4} ({(ours / theirs - 1) * 100:+0.000;-0.000}%)");
        Assert.InRange(ours / theirs, 1 - Tolerance, 1 + Tolerance);
    }
}
