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
        if (options.Protocol == PerplexityProtocol.LlamaCpp)
        {
            return EvaluateLlamaCpp(model, tokens, bosId, options);
        }

        if (options.LogitsFile is not null)
        {
            throw new QuantSharpException("a llama.cpp logits file is written with the llama.cpp protocol only (--protocol llama.cpp)");
        }

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

    /// <summary>llama.cpp's <c>llama-perplexity</c> protocol (<see cref="PerplexityProtocol.LlamaCpp"/>), optionally
    /// writing its logits file.</summary>
    private static PerplexityResult EvaluateLlamaCpp(TransformerModel model, IReadOnlyList<int> text, int bosId, PerplexityOptions options)
    {
        int ctx = options.Context > 0 ? options.Context : Math.Min(512, model.Config.MaxPositions);
        if (ctx > model.Config.MaxPositions || ctx < 4)
        {
            throw new QuantSharpException($"--ctx {ctx} must be between 4 and the model's context of {model.Config.MaxPositions}");
        }

        int[] tokens = options.AddBos ? [bosId, .. text] : [.. text];
        if (tokens.Length < 2 * ctx)
        {
            throw new QuantSharpException($"the text tokenizes to {tokens.Length} tokens; the llama.cpp protocol needs at least 2 × ctx = {2 * ctx}");
        }

        int chunks = tokens.Length / ctx;
        if (options.MaxWindows > 0)
        {
            chunks = Math.Min(chunks, options.MaxWindows);
        }

        int vocab = model.Config.VocabSize, first = ctx / 2, scoredPerChunk = ctx - 1 - first;
        using var session = new InferenceSession(model, ctx, ctx);
        float[] logits = new float[ctx * vocab];
        int[] window = new int[ctx];
        ushort[] records = options.LogitsFile is null ? [] : new ushort[scoredPerChunk * LlamaCppLogitsFile.RecordLength(vocab)];
        double nll = 0;
        long scored = 0;
        var clock = Stopwatch.StartNew();
        void Run(Stream? output)
        {
            if (output is not null)
            {
                LlamaCppLogitsFile.WriteHeader(output, ctx, vocab, chunks, tokens);
            }

            for (int c = 0; c < chunks; c++)
            {
                tokens.AsSpan(c * ctx, ctx).CopyTo(window);
                if (options.AddBos)
                {
                    window[0] = bosId;
                }

                session.Reset();
                session.Forward(window, logits);
                int n = LlamaCppLogitsFile.RecordLength(vocab);
                for (int p = first; p < ctx - 1; p++)
                {
                    // Scored against the text's own next token (a chunk's first token is BOS only as input).
                    int target = tokens[(c * ctx) + p + 1];
                    nll += output is null
                        ? -LogProb.Of(logits.AsSpan(p * vocab, vocab), target)
                        : LlamaCppLogitsFile.Encode(logits.AsSpan(p * vocab, vocab), target, records.AsSpan((p - first) * n, n));
                    scored++;
                }

                output?.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(records.AsSpan()));
                options.Progress?.Invoke(c + 1, chunks);
            }
        }

        if (options.LogitsFile is null)
        {
            Run(null);
        }
        else
        {
            Formats.AtomicFile.Write(options.LogitsFile, Run);
        }

        double mean = nll / scored;
        return new PerplexityResult(Math.Exp(mean), mean, tokens.Length, chunks, scored, ctx, clock.Elapsed.TotalSeconds);
    }
}
