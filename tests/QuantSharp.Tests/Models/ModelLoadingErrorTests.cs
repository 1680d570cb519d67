using QuantSharp.Evaluation;
using QuantSharp.Formats;
using QuantSharp.Models;

namespace QuantSharp.Tests.Models;

public class ModelLoadingErrorTests
{
    private static string CopyStories(TempDir dir, Func<string, string>? editConfig = null, Func<string, bool>? keepTensor = null)
    {
        string config = File.ReadAllText(Path.Combine(TestPaths.Stories260K, "config.json"));
        File.WriteAllText(dir.File("config.json"), editConfig?.Invoke(config) ?? config);
        using var source = SafetensorsCheckpoint.Open(TestPaths.Stories260K);
        using var writer = new SafetensorsWriter(dir.Path);
        foreach (var t in source.Tensors.Values.Where(t => keepTensor?.Invoke(t.Name) ?? true))
        {
            writer.Add(t);
        }

        writer.Commit(dir.File("model.safetensors"));
        return dir.Path;
    }

    [Fact]
    public void UnknownArchitectureListsTheSupportedOnes()
    {
        using var dir = new TempDir();
        CopyStories(dir, c => c.Replace("LlamaForCausalLM", "MambaForCausalLM"));
        var e = Assert.Throws<QuantSharpException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains("MambaForCausalLM", e.Message);
        Assert.Contains("LlamaForCausalLM", e.Message);
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        using var dir = new TempDir();
        CopyStories(dir, keepTensor: n => n != "model.layers.3.mlp.down_proj.weight");
        var e = Assert.Throws<QuantSharpException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains("model.layers.3.mlp.down_proj.weight", e.Message);
    }

    [Fact]
    public void HeadsNotDividingKvHeadsIsAClearError()
    {
        using var dir = new TempDir();
        CopyStories(dir, c => c.Replace("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3"));
        var e = Assert.Throws<QuantSharpException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains("num_key_value_heads", e.Message);
    }

    [Fact]
    public void Qwen2ZeroBiasesGiveTheLlamaLogitsAndANonZeroBiasChangesThem()
    {
        using var llama = ModelLoader.Load(TestPaths.Stories260K);
        float[] reference = Logits(llama.Model);
        foreach (float bias in new[] { 0f, 0.5f })
        {
            using var dir = new TempDir();
            CopyStories(dir, c => c.Replace("LlamaForCausalLM", "Qwen2ForCausalLM"));
            // Re-write with q/k/v biases added.
            using (var source = SafetensorsCheckpoint.Open(TestPaths.Stories260K))
            using (var writer = new SafetensorsWriter(dir.Path))
            {
                foreach (var t in source.Tensors.Values)
                {
                    writer.Add(t);
                    if (t.Name.EndsWith("_proj.weight", StringComparison.Ordinal) && (t.Name.Contains(".q_") || t.Name.Contains(".k_") || t.Name.Contains(".v_")))
                    {
                        float[] b = Enumerable.Repeat(bias, (int)t.Shape[0]).ToArray();
                        writer.Add(t.Name.Replace(".weight", ".bias"), [t.Shape[0]], b);
                    }
                }

                writer.Commit(dir.File("model.safetensors"));
            }

            using var qwen = ModelLoader.Load(dir.Path);
            float[] logits = Logits(qwen.Model);
            double maxDiff = reference.Zip(logits, (a, b) => Math.Abs(a - b)).Max();
            if (bias == 0f)
            {
                Assert.Equal(0, maxDiff);
            }
            else
            {
                Assert.True(maxDiff > 1e-3, $"bias had no effect ({maxDiff})");
            }
        }
    }

    private static float[] Logits(TransformerModel model)
    {
        using var session = new InferenceSession(model);
        float[] logits = new float[model.Config.VocabSize];
        session.Forward([1, 403, 407, 261], logits);
        return logits;
    }

    [Fact]
    public void SamplerTopK1AndTinyTopPAreGreedyAndSeedsReproduce()
    {
        var r = new Random(3);
        float[] logits = Enumerable.Range(0, 50).Select(_ => (float)r.NextDouble() * 4).ToArray();
        int argmax = Array.IndexOf(logits, logits.Max());
        Assert.Equal(argmax, new Sampler(new SamplingOptions { Temperature = 1f, TopK = 1 }, 50).Next((float[])logits.Clone(), []));
        Assert.Equal(argmax, new Sampler(new SamplingOptions { Temperature = 1f, TopP = 1e-6f }, 50).Next((float[])logits.Clone(), []));
        int[] Draw(int seed)
        {
            var s = new Sampler(new SamplingOptions { Temperature = 1f, Seed = seed }, 50);
            return Enumerable.Range(0, 20).Select(_ => s.Next((float[])logits.Clone(), [])).ToArray();
        }

        Assert.Equal(Draw(7), Draw(7));
        Assert.NotEqual(Draw(7), Draw(8));
        Assert.True(Draw(7).Distinct().Count() > 3);
        // Repetition penalty: a huge penalty on the argmax makes it lose.
        float[] penalised = (float[])logits.Clone();
        Assert.NotEqual(argmax, new Sampler(new SamplingOptions { RepetitionPenalty = 1000f }, 50).Next(penalised, [argmax]));
    }

    [Fact]
    public void SecondHalfScoresHalfOfEachWindow()
    {
        using var loaded = ModelLoader.Load(TestPaths.Stories260K);
        var tok = loaded.RequireTokenizer();
        var tokens = tok.Encode(string.Concat(Enumerable.Repeat("Once upon a time, there was a little girl named Lily. ", 20)));
        var all = PerplexityEvaluator.Evaluate(loaded.Model, tokens, 1, new PerplexityOptions { Context = 64 });
        var half = PerplexityEvaluator.Evaluate(loaded.Model, tokens, 1, new PerplexityOptions { Context = 64, SecondHalf = true });
        Assert.Equal(all.Windows * 63, all.ScoredTokens);
        Assert.Equal(all.Windows * (63 - 32), half.ScoredTokens);
        // Later tokens have more context, so on repetitive text the second half is easier.
        Assert.True(half.Perplexity < all.Perplexity);
    }
}
