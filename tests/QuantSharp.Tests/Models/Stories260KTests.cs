using System.Text.Json;
using QuantSharp.Models;

namespace QuantSharp.Tests.Models;

public class Stories260KTests
{
    private static JsonElement Reference()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Model("stories260K/reference_outputs.json")));
        return doc.RootElement.Clone();
    }

    [Fact]
    public void GreedyFromBosReproducesReferenceIds()
    {
        JsonElement reference = Reference();
        int[] expected = reference.GetProperty("greedy_from_bos").GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Stories260K);
        var generator = new Generator(loaded.Model);
        int[] ids = generator.Generate([1], new SamplingOptions { MaxTokens = expected.Length, StopAtEos = true }).ToArray();
        Assert.Equal(expected, ids);
    }

    [Fact]
    public void TeacherForcedLogitsAndNllMatchReference()
    {
        JsonElement tf = Reference().GetProperty("teacher_forced_nll");
        int[] ids = tf.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Stories260K);
        int vocab = loaded.Model.Config.VocabSize;
        using var session = new InferenceSession(loaded.Model);
        float[] logits = new float[ids.Length * vocab];
        session.Forward(ids, logits);
        double nll = 0;
        for (int t = 0; t + 1 < ids.Length; t++)
        {
            nll -= QuantSharp.Evaluation.LogProb.Of(logits.AsSpan(t * vocab, vocab), ids[t + 1]);
        }

        nll /= ids.Length - 1;
        Assert.Equal(tf.GetProperty("mean_nll_nats").GetDouble(), nll, 1e-4);
        foreach (JsonElement top in tf.GetProperty("logits_pos0_top5").EnumerateArray())
        {
            int id = top[0].GetInt32();
            Assert.Equal(top[1].GetDouble(), logits[id], 1e-4);
        }
    }
}
