using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Evaluation;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Persistence;

/// <summary>quantize → save → load: identical logits, loading without the original, clear errors on bad folders.</summary>
public sealed class PersistenceTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    public static TheoryData<string, string> ModelsAndSchemes()
    {
        var data = new TheoryData<string, string>();
        foreach (string model in new[] { "stories260K", "brown-llama" })
        {
            foreach (string scheme in new[] { "int8", "int4-g128-asym", "int4-g32-sym", "nf4", "nf4-dq", "fp4", "ternary-row", "ternary-g64", "bf16" })
            {
                data.Add(model, scheme);
            }
        }

        return data;
    }

    private static string ModelPath(string model) => model == "stories260K" ? TestPaths.Stories260K : TestPaths.BrownLlama;

    private static readonly int[] s_prompt = [1, 339, 504, 162, 91, 33, 77, 200];

    private static float[] Logits(TransformerModel model)
    {
        using var session = new InferenceSession(model);
        float[] logits = new float[s_prompt.Length * model.Config.VocabSize];
        session.Forward(s_prompt, logits);
        return logits;
    }

    private string Quantize(string source, string scheme, string name = "out", IEnumerable<string>? include = null, IEnumerable<string>? exclude = null)
    {
        string output = _tmp.File(name);
        QuantizedCheckpointWriter.Write(source, output,
            QuantizedCheckpointWriter.Convert(QuantizedCheckpointWriter.DefaultSelector(source, include, exclude), WeightFormat.Parse(scheme)));
        return output;
    }

    [Theory]
    [MemberData(nameof(ModelsAndSchemes))]
    public void SaveLoad_LogitsBitIdenticalToInMemoryQuantizedModel(string model, string scheme)
    {
        string source = ModelPath(model);
        string folder = Quantize(source, scheme);
        WeightFormat format = WeightFormat.Parse(scheme);
        using LoadedModel inMemory = ModelLoader.Load(source, QuantizingLinearProvider.Options(format));
        using LoadedModel saved = ModelLoader.Load(folder);

        var linears = saved.Model.BlockLinears().ToList();
        Assert.Equal(saved.Model.Spec.BlockLinearNames(saved.Model.Config.Layers).Count(), linears.Count);
        Assert.All(linears, l => Assert.Equal(format.Name, l.Weight.Scheme));
        Assert.Equal("f32", saved.Model.Embedding.Scheme);
        Assert.Equal(inMemory.Model.WeightBytes, saved.Model.WeightBytes);
        Assert.Equal(Logits(inMemory.Model), Logits(saved.Model));

        // The config records the scheme and every module (bf16 is a plain dense checkpoint without a quantization_config).
        QuantizationConfig? config = QuantizationConfig.FromConfigJson(File.ReadAllText(Path.Combine(folder, "config.json")));
        if (format.Spec is null)
        {
            Assert.Null(config);
        }
        else
        {
            Assert.NotNull(config);
            Assert.Equal(format.Spec, config.Spec);
            Assert.Equal(linears.Select(l => QuantizedLinear.Prefix(l.Name)).Order(StringComparer.Ordinal), config.Modules);
        }
    }

    [Fact]
    public void QuantizedFolder_ReloadsWithOriginalGone()
    {
        string copy = _tmp.File("original");
        Directory.CreateDirectory(copy);
        foreach (string f in Directory.GetFiles(TestPaths.Stories260K))
        {
            File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        }

        int[] expected;
        using (LoadedModel inMemory = ModelLoader.Load(copy, QuantizingLinearProvider.Options(WeightFormat.Parse("int4-g32-sym"))))
        {
            expected = new Generator(inMemory.Model).Generate([1], new SamplingOptions { MaxTokens = 30, StopAtEos = false }).ToArray();
        }

        string folder = Quantize(copy, "int4-g32-sym");
        Directory.Delete(copy, recursive: true);
        using LoadedModel loaded = ModelLoader.Load(folder);
        Assert.NotNull(loaded.Tokenizer);
        Assert.Equal(expected, new Generator(loaded.Model).Generate([1], new SamplingOptions { MaxTokens = 30, StopAtEos = false }).ToArray());
        Assert.True(File.Exists(Path.Combine(folder, "tokenizer.model")));
        Assert.True(File.Exists(Path.Combine(folder, "generation_config.json")));
    }

    [Fact]
    public void IncludeExclude_SelectTheNamedTensors()
    {
        string mlp = Quantize(TestPaths.Stories260K, "int8", "mlp", include: ["*.mlp.*"]);
        Assert.Equal(15, Modules(mlp).Count);
        Assert.All(Modules(mlp), m => Assert.Contains(".mlp.", m));

        string noDown = Quantize(TestPaths.Stories260K, "int8", "nodown", exclude: ["*down_proj*"]);
        Assert.Equal(5 * 6, Modules(noDown).Count);
        Assert.DoesNotContain(Modules(noDown), m => m.EndsWith("down_proj", StringComparison.Ordinal));

        string qk = Quantize(TestPaths.Stories260K, "int8", "qk", include: [@"re:.*\.(q|k)_proj\.weight"], exclude: ["model.layers.4.*"]);
        Assert.Equal(2 * 4, Modules(qk).Count);

        // The embedding can be chosen explicitly; it then loads as a packed weight (tied LM head included).
        string emb = Quantize(TestPaths.Stories260K, "int8", "emb", include: ["model.embed_tokens.weight"]);
        Assert.Equal(["model.embed_tokens"], Modules(emb));
        using (LoadedModel loaded = ModelLoader.Load(emb))
        {
            Assert.Equal("int8", loaded.Model.Embedding.Scheme);
            Assert.Equal("f32", loaded.Model.Blocks[0].Q!.Scheme);
        }

        var e = Assert.Throws<QuantSharpException>(() => Quantize(TestPaths.Stories260K, "int8", "typo", include: ["*.mlp.nothing"]));
        Assert.Contains("*.mlp.nothing", e.Message);
        Assert.Contains("no tensor was selected", Assert.Throws<QuantSharpException>(() => Quantize(TestPaths.Stories260K, "int8", "none", exclude: ["*"])).Message);
        Assert.False(Directory.Exists(_tmp.File("typo")));
        Assert.False(Directory.Exists(_tmp.File("none")));
    }

    [Theory]
    [InlineData("*.mlp.*", "model.layers.0.mlp.up_proj.weight", true)]
    [InlineData("*.mlp.*", "model.layers.0.self_attn.q_proj.weight", false)]
    [InlineData("model.layers.?.mlp.*", "model.layers.3.mlp.up_proj.weight", true)]
    [InlineData("model.layers.?.mlp.*", "model.layers.12.mlp.up_proj.weight", false)]
    [InlineData("*q_proj", "model.layers.0.self_attn.q_proj.weight", false)]
    [InlineData("re:.*layers\\.1[0-9]\\..*", "model.layers.12.mlp.up_proj.weight", true)]
    [InlineData("re:layers", "model.layers.12.mlp.up_proj.weight", false)]
    public void Patterns_MatchWholeNames(string pattern, string name, bool expected)
    {
        var view = Tensors.TensorView.FromFloats(name, [2, 32], new float[64]);
        Assert.Equal(expected, TensorSelector.Create(include: [pattern]).IsSelected(name, view));
    }

    [Fact]
    public void FolderWithoutQuantizationConfig_ClearError()
    {
        string folder = Quantize(TestPaths.Stories260K, "int4");
        JsonObject config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        config.Remove("quantization_config");
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        var e = Assert.Throws<QuantSharpException>(() => ModelLoader.Load(folder));
        Assert.Contains("no quantization_config", e.Message);
        Assert.Contains(".qmeta", e.Message);
    }

    [Theory]
    [InlineData("quant_method", "gptq-unknown", "gptq-unknown")]
    [InlineData("scheme", "int3", "int3")]
    [InlineData("bits", "8", "bits is 8")]
    public void BadQuantizationConfig_ClearError(string field, string value, string expected)
    {
        string folder = Quantize(TestPaths.Stories260K, "int4");
        string path = Path.Combine(folder, "config.json");
        JsonObject config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config["quantization_config"]![field] = field == "bits" ? JsonValue.Create(int.Parse(value)) : JsonValue.Create(value);
        File.WriteAllText(path, config.ToJsonString());
        Assert.Contains(expected, Assert.Throws<QuantSharpException>(() => ModelLoader.Load(folder)).Message);
    }

    [Fact]
    public void ModulesDisagreeingWithTensors_ClearError()
    {
        string folder = Quantize(TestPaths.Stories260K, "int8");
        string path = Path.Combine(folder, "config.json");
        JsonObject config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        JsonArray modules = config["quantization_config"]!["modules"]!.AsArray();
        modules.RemoveAt(0);
        File.WriteAllText(path, config.ToJsonString());
        Assert.Contains("does not list", Assert.Throws<QuantSharpException>(() => ModelLoader.Load(folder)).Message);
        modules.Add("model.layers.9.mlp.up_proj");
        File.WriteAllText(path, config.ToJsonString());
        Assert.Contains("model.layers.9.mlp.up_proj", Assert.Throws<QuantSharpException>(() => ModelLoader.Load(folder)).Message);
    }

    [Fact]
    public void AlreadyQuantizedSource_Refused()
    {
        string folder = Quantize(TestPaths.Stories260K, "int8");
        Assert.Contains("already quantized", Assert.Throws<QuantSharpException>(() => Quantize(folder, "int4", "again")).Message);
        Assert.Contains("already quantized", Assert.Throws<QuantSharpException>(() => ModelLoader.Load(folder, QuantizingLinearProvider.Options(WeightFormat.Parse("int4")))).Message);
    }

    [Fact]
    public void Int8Perplexity_BrownLlama_WithinOnePercentOfF32()
    {
        using LoadedModel f32 = ModelLoader.Load(TestPaths.BrownLlama);
        using LoadedModel int8 = ModelLoader.Load(TestPaths.BrownLlama, QuantizingLinearProvider.Options(WeightFormat.Parse("int8")));
        var tok = f32.RequireTokenizer();
        string text = File.ReadAllText(Path.Combine(TestPaths.BrownLlama, "heldout.txt"))[..40_000];
        IReadOnlyList<int> tokens = tok.Encode(text);
        var options = new PerplexityOptions { Context = 256, MaxWindows = 4 };
        double a = PerplexityEvaluator.Evaluate(f32.Model, tokens, tok.BosId!.Value, options).Perplexity;
        double b = PerplexityEvaluator.Evaluate(int8.Model, tokens, tok.BosId!.Value, options).Perplexity;
        Assert.InRange(b / a, 0.99, 1.01);
        Assert.NotEqual(a, b); // int8 really ran
    }

    [Fact]
    public void PeakMemory_AtLeastCurrentWorkingSet()
    {
        long peak = PeakMemory.Bytes();
        Assert.True(peak >= Environment.WorkingSet * 0.9, $"peak {peak} < working set {Environment.WorkingSet}");
        Assert.True(peak < 64L << 30);
    }

    private static List<string> Modules(string folder)
        => [.. QuantizationConfig.FromConfigJson(File.ReadAllText(Path.Combine(folder, "config.json")))!.Modules];
}
