using System.Diagnostics;
using QuantSharp.Models;

namespace QuantSharp.Evaluation;

/// <summary>
/// Perplexity over a text, llama.cpp style: the whole text is tokenized as one string (no BOS) and cut into
/// non-overlapping spans of context − 1 tokens (the final partial span is dropped); each window is [BOS] + span,
/// run from an empty KV cache; every text token of the span is scored, each predicted from BOS and the text before
/// it (or only the second half of the window with <see cref="PerplexityOptions.SecondHalf"/>).
/// </summary>
public static class PerplexityEvaluator
{
    /// <summary>Measures perplexity of <paramref name="model"/> on pre-tokenized text.</summary>
    /// <exception cref="QuantSharpException">The text is shorter than one window, or the model has no BOS id.</exception>
    public static PerplexityResult Evaluate(TransformerModel model, IReadOnlyList<int> tokens, int bosId, PerplexityOptions? options = null)
    {
        options ??= new PerplexityOptions();
        int ctx = options.Context > 0 ? options.Context : Math.Min(512, model.Config.MaxPositions);
        if (ctx > model.Config.MaxPositions)
        {
            throw new QuantSharpException($"--ctx {ctx} is longer than the model's context of {model.Config.MaxPositions}");
        }

        if (ctx < 2)
        {
            throw new QuantSharpException($"--ctx {ctx} is too short: a window needs a BOS and at least one text token");
        }

        int span = ctx - 1;
        int windows = tokens.Count / span;
        if (options.MaxWindows > 0)
        {
            windows = Math.Min(windows, options.MaxWindows);
        }

        if (windows == 0)
        {
            throw new QuantSharpException($"the text has {tokens.Count} tokens, fewer than one window of {span}; use a smaller --ctx");
        }

        int vocab = model.Config.VocabSize;
        using var session = new InferenceSession(model, ctx, ctx);
        float[] logits = new float[ctx * vocab];
        int[] window = new int[ctx];
        double nll = 0;
        long scored = 0;
        int firstScored = options.SecondHalf ? ctx / 2 : 0;
        var clock = Stopwatch.StartNew();
        for (int w = 0; w < windows; w++)
        {
            window[0] = bosId;
            for (int i = 0; i < span; i++)
            {
                window[i + 1] = tokens[w * span + i];
            }

            session.Reset();
            session.Forward(window, logits);
            // logits row p predicts window[p + 1].
            for (int p = firstScored; p < span; p++)
            {
                nll -= LogProb.Of(logits.AsSpan(p * vocab, vocab), window[p + 1]);
                scored++;
            }

            options.Progress?.Invoke(w + 1, windows);
        }

        double mean = nll / scored;
        return new PerplexityResult(Math.Exp(mean), mean, tokens.Count, windows, scored, ctx, clock.Elapsed.TotalSeconds);
    }
}
