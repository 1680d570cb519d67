using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Models;
using QuantSharp.Tensors;
using QuantSharp.Tests.Cli;

namespace QuantSharp.Tests.Formats;

/// <summary><c>synth --config</c>: a real config's tensor names and shapes, shards with an index, and a folder that loads.</summary>
public class SyntheticFromConfigTests
{
    private static IReadOnlyList<RandomTensorSpec> TensorsOf(string configJson)
    {
        ModelConfig config = ModelConfig.Parse(configJson, "config.json");
        return SyntheticCheckpoint.Tensors(config, ArchitectureSpec.For(config));
    }

    [Fact]
    public void ChatGlm3ConfigGivesTheRealCheckpointsNamesAndShapes()
    {
        IReadOnlyList<RandomTensorSpec> tensors = TensorsOf(File.ReadAllText(TestPaths.Model(Path.Combine("chatglm3-tokenizer", "config.json"))));
        var shapes = tensors.ToDictionary(t => t.Name, t => t.Shape);

        // ChatGLM3-6B's model.safetensors.index.json lists these 199 weights (plus the rotary inv_freq buffer, which
        // nothing loads and which is not written).
        Assert.Equal(199, tensors.Count);
        Assert.Equal([65024L, 4096], shapes["transformer.embedding.word_embeddings.weight"]);
        Assert.Equal([4608L, 4096], shapes["transformer.encoder.layers.0.self_attention.query_key_value.weight"]);
        Assert.Equal([4608L], shapes["transformer.encoder.layers.0.self_attention.query_key_value.bias"]);
        Assert.Equal([4096L, 4096], shapes["transformer.encoder.layers.27.self_attention.dense.weight"]);
        Assert.Equal([27392L, 4096], shapes["transformer.encoder.layers.27.mlp.dense_h_to_4h.weight"]);
        Assert.Equal([4096L, 13696], shapes["transformer.encoder.layers.27.mlp.dense_4h_to_h.weight"]);
        Assert.Equal([4096L], shapes["transformer.encoder.final_layernorm.weight"]);
        Assert.Equal([65024L, 4096], shapes["transformer.output_layer.weight"]);
        Assert.Equal(6_243_584_000, tensors.Sum(t => t.ElementCount));
        Assert.All(tensors.Where(t => t.Shape.Length == 2 && !t.Name.Contains("embedding", StringComparison.Ordinal) && !t.Name.Contains("output_layer", StringComparison.Ordinal)), t => Assert.True(t.Outliers, t.Name));
    }

    [Fact]
    public void PresetsHaveThePublishedParameterCounts()
    {
        (string glm4, _, _) = QuantSharp.Cli.ConfigPresets.Resolve("glm4-9b");
        Assert.Equal(9_399_951_360, TensorsOf(glm4).Sum(t => t.ElementCount));
        (string llama3, _, _) = QuantSharp.Cli.ConfigPresets.Resolve("llama-3.1-8b");
        IReadOnlyList<RandomTensorSpec> tensors = TensorsOf(llama3);
        Assert.Equal(8_030_261_248, tensors.Sum(t => t.ElementCount));
        Assert.Equal([1024L, 4096], tensors.Single(t => t.Name == "model.layers.31.self_attn.k_proj.weight").Shape);
        Assert.Equal([128256L, 4096], tensors.Single(t => t.Name == "lm_head.weight").Shape);
        (string llama2, _, _) = QuantSharp.Cli.ConfigPresets.Resolve("llama-2-7b");
        Assert.Equal(6_738_415_616, TensorsOf(llama2).Sum(t => t.ElementCount));
    }

    [Fact]
    public void WritesShardsAndAnIndexThatLoadsDeterministically()
    {
        using var dir = new TempDir();
        string config = File.ReadAllText(TestPaths.Model(Path.Combine("glm-tiny", "glm4-tiny", "config.json")));
        string a = dir.File("a"), b = dir.File("b");
        (IReadOnlyList<RandomTensorSpec> tensors, IReadOnlyList<string> shards) = SyntheticCheckpoint.WriteFromConfig(config, null, a, DType.BF16, 7, TestPaths.Model(Path.Combine("tokenizers", "glm4")), shardBytes: 4096);
        SyntheticCheckpoint.WriteFromConfig(config, null, b, DType.BF16, 7, null, shardBytes: 4096);
        Assert.True(shards.Count > 2, $"{shards.Count} shards");
        Assert.Equal($"model-00001-of-{shards.Count:D5}.safetensors", shards[0]);
        foreach (string shard in shards)
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, shard)), File.ReadAllBytes(Path.Combine(b, shard)));
        }

        using (JsonDocument index = JsonDocument.Parse(File.ReadAllText(Path.Combine(a, "model.safetensors.index.json"))))
        {
            JsonElement map = index.RootElement.GetProperty("weight_map");
            Assert.Equal(tensors.Select(t => t.Name).Order(StringComparer.Ordinal), map.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
            Assert.Equal(tensors.Sum(t => t.ElementCount * 2), index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
        }

        Assert.True(File.Exists(Path.Combine(a, "tokenizer.model")));
        Assert.False(Directory.EnumerateFileSystemEntries(dir.Path).Any(p => Path.GetFileName(p).StartsWith('.')), "no temporary folder left");
        using LoadedModel loaded = ModelLoader.Load(a);
        Assert.Equal(tensors.Count(t => t.Name.Contains(".layers.", StringComparison.Ordinal) && t.Name.EndsWith("input_layernorm.weight", StringComparison.Ordinal)), loaded.Model.Blocks.Length);
        using var session = new InferenceSession(loaded.Model, 8);
        float[] logits = new float[loaded.Model.Config.VocabSize];
        session.Forward([1, 2, 3], logits);
        Assert.All(logits, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void OutlierColumnsAreLargerInEveryRow()
    {
        using var dir = new TempDir();
        RandomTensorSpec[] specs = [new("w", [64, 4000], Outliers: true)];
        RandomSafetensorsWriter.Write(dir.File("w.safetensors"), specs, DType.F32, 3, 0.02f);
        using SafetensorsFile file = SafetensorsFile.Open(dir.File("w.safetensors"));
        float[] w = file.Tensors["w"].ToFloatArray();
        int[] outliers = [.. Enumerable.Range(0, 4000).Where(c => RandomSafetensorsWriter.IsOutlierColumn(3, c))];
        Assert.InRange(outliers.Length, 8, 40); // about 1 in 200
        double Rms(IEnumerable<int> columns) => Math.Sqrt(columns.SelectMany(c => Enumerable.Range(0, 64).Select(r => (double)w[(r * 4000) + c] * w[(r * 4000) + c])).Average());
        double normal = Rms(Enumerable.Range(0, 4000).Except(outliers));
        Assert.InRange(normal, 0.018, 0.022);
        Assert.InRange(Rms(outliers) / normal, 7, 9);
    }

    [Fact]
    public void CliWritesAPresetAndRefusesBadOptions()
    {
        using var dir = new TempDir();
        string config = TestPaths.Model(Path.Combine("glm-tiny", "chatglm3-tiny", "config.json"));
        var (code, stdout, stderr) = CliRunner.Run("synth", "--config", config, "--layers", "1", "--out", dir.File("m"), "--dtype", "f16", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(1, CliRunner.LastJson(stdout).GetProperty("shards").GetInt32());
        Assert.True(File.Exists(dir.File(Path.Combine("m", "model.safetensors"))));
        using (JsonDocument written = JsonDocument.Parse(File.ReadAllText(dir.File(Path.Combine("m", "config.json")))))
        {
            Assert.Equal(1, written.RootElement.GetProperty("num_layers").GetInt32());
            Assert.Equal("float16", written.RootElement.GetProperty("torch_dtype").GetString());
        }

        (code, _, stderr) = CliRunner.Run("synth", "--config", config, "--layers", "99", "--out", dir.File("x"));
        Assert.Equal(2, code);
        Assert.Contains("--layers 99", stderr);
        (code, _, stderr) = CliRunner.Run("synth", "--config", "gpt-9", "--out", dir.File("x"));
        Assert.Equal(2, code);
        Assert.Contains("chatglm3-6b", stderr);
        (code, _, stderr) = CliRunner.Run("synth", "--config", config, "--like", "tinyllama-1.1b", "--out", dir.File("x"));
        Assert.Equal(2, code);
        Assert.False(Directory.Exists(dir.File("x")));
    }
}
