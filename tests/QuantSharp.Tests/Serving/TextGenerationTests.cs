using QuantSharp.Models;
using QuantSharp.Serving;

namespace QuantSharp.Tests.Serving;

/// <summary>Text out of the engine: streamed pieces join to the decoded ids, and stop strings cut the reply.</summary>
public class TextGenerationTests
{
    [Fact]
    public async Task StopStringEndsTheReplyBeforeIt()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.BrownLlama);
        var tokenizer = loaded.RequireTokenizer();
        using var engine = new GenerationEngine(loaded.Model, new GenerationEngineOptions { ContextLength = 128 });
        int[] prompt = tokenizer.Encode("The jury said", addSpecialTokens: true);
        var greedy = new SamplingOptions { MaxTokens = 40, StopAtEos = false };
        var full = new TextGeneration(engine, tokenizer, prompt, greedy);
        var pieces = new List<string>();
        await foreach (string piece in full.StreamAsync())
        {
            pieces.Add(piece);
        }

        string text = string.Concat(pieces);
        int[] ids = new Generator(loaded.Model).Generate(prompt, greedy).ToArray();
        Assert.Equal(tokenizer.Decode(ids), text);
        Assert.Equal(GenerationFinish.Length, full.Finish);
        Assert.Equal(40, full.CompletionTokens);

        // A stop string from the middle of that reply, spanning a token boundary.
        string stop = text.Substring(text.Length / 2, 5);
        var cut = new TextGeneration(engine, tokenizer, prompt, greedy, [stop, "never appears ∆"]);
        string reply = await cut.CompleteAsync();
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], reply);
        Assert.Equal(GenerationFinish.Stop, cut.Finish);
        Assert.True(cut.CompletionTokens < 40);
    }
}
