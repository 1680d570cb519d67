using QuantSharp.Evaluation;
using QuantSharp.Models;

namespace QuantSharp.Tests.Evaluation;

/// <summary>llama-perplexity's protocol and logits file, on brown-llama.</summary>
public sealed class LlamaCppProtocolTests
{
    private static string BrownLlama => TestPaths.Model("brown-llama");

    [Fact]
    public void LogitsFileRecordsDecodeToTheLogSoftmaxWithinHalfAStep()
    {
        var random = new Random(5);
        float[] logits = [.. Enumerable.Range(0, 1001).Select(_ => (float)((random.NextDouble() * 30) - 10))];
        ushort[] record = new ushort[LlamaCppLogitsFile.RecordLength(logits.Length)];
        double nll = LlamaCppLogitsFile.Encode(logits, 17, record);
        Assert.Equal(-LogProb.Of(logits, 17), nll, 4);
        var contents = new LlamaCppLogitsFile.Contents(4, logits.Length, 1, new int[4], record);
        float max = logits.Max();
        float scale = (max - Math.Max(logits.Min(), max - 16)) / 65535f;
        for (int i = 0; i < logits.Length; i++)
        {
            double exact = LogProb.Of(logits, i);
            if (logits[i] > max - 16)
            {
                Assert.True(Math.Abs(contents.LogProb(0, i) - exact) <= (scale / 2) + 1e-4, $"token {i}: {contents.LogProb(0, i)} vs {exact}");
            }
        }
    }

    [Fact]
    public void ChunksScoreTheSecondHalfAndAModelHasNoDivergenceFromItsOwnBaseFile()
    {
        using LoadedModel loaded = ModelLoader.Load(BrownLlama);
        var tokenizer = loaded.RequireTokenizer();
        int[] text = tokenizer.Encode(File.ReadAllText(Path.Combine(BrownLlama, "heldout.txt")));
        string file = Path.Combine(Path.GetTempPath(), $"qs-logits-{Environment.ProcessId}.bin");
        try
        {
            PerplexityResult r = PerplexityEvaluator.Evaluate(loaded.Model, text, tokenizer.BosId!.Value, new PerplexityOptions
            {
                Context = 64, MaxWindows = 5, Protocol = PerplexityProtocol.LlamaCpp, AddBos = true, LogitsFile = file,
            });
            Assert.Equal(5, r.Windows);
            Assert.Equal(5 * (64 - 1 - 32), r.ScoredTokens);
            LlamaCppLogitsFile.Contents contents = LlamaCppLogitsFile.Read(file);
            Assert.Equal((64, loaded.Model.Config.VocabSize, 5), (contents.Context, contents.Vocab, contents.Chunks));
            Assert.Equal(tokenizer.BosId!.Value, contents.Tokens[0]);
            Assert.Equal(text[..63], contents.Tokens[1..64]); // BOS in front of the text, then the text itself

            KlDivergenceResult kl = KlDivergenceResult.Evaluate(loaded.Model, contents, tokenizer.BosId!.Value, addBos: true);
            Assert.True(kl.KlMean < 1e-6, $"KL {kl.KlMean}");
            Assert.Equal(1.0, kl.SameTop);
            Assert.Equal(r.Perplexity, kl.Perplexity, 4);
            Assert.True(Math.Abs((kl.BasePerplexity / r.Perplexity) - 1) < 1e-5, $"base {kl.BasePerplexity} vs {r.Perplexity}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void ATextShorterThanTwoContextsIsRefused()
    {
        using LoadedModel loaded = ModelLoader.Load(BrownLlama);
        var e = Assert.Throws<QuantSharpException>(() => PerplexityEvaluator.Evaluate(loaded.Model, [.. Enumerable.Range(5, 100)], 1, new PerplexityOptions { Context = 64, Protocol = PerplexityProtocol.LlamaCpp }));
        Assert.Contains("2 × ctx", e.Message, StringComparison.Ordinal);
    }
}
