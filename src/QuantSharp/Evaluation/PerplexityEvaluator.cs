using System.Diagnostics;
using QuantSharp.Models;

namespace QuantSharp.Evaluation;

/// <summary>
/// Perplexity over a text tokenized as one string (no BOS), cut into windows by <see cref="PerplexityWindows"/>: by
/// default non-overlapping spans of context − 1 tokens (the final partial span dropped), each run as [BOS] + span
/// from an empty KV cache with every text token scored (or the second half with
/// <see cref="PerplexityOptions.SecondHalf"/>); or llama-perplexity's chunks (<see cref="PerplexityProtocol.LlamaCpp"/>),
/// optionally writing its logits file.
/// </summary>
public static class PerplexityEvaluator
{
    /// <summary>Measures perplexity of <paramref name="model"/> on pre-tokenized text.</summary>
    /// <exception cref="QuantSharpException">The text is shorter than one window, or the model has no BOS id.</exception>
    public static PerplexityResult Evaluate(TransformerModel model, IReadOnlyList<int> tokens, int bosId, PerplexityOptions? options = null)
    {
        options ??= new PerplexityOptions();
        if (options.LogitsFile is not null && options.Protocol != PerplexityProtocol.LlamaCpp)
        {
            throw new QuantSharpException("a llama.cpp logits file is written with the llama.cpp protocol only (--protocol llama.cpp)");
        }

        PerplexityWindows windows = PerplexityWindows.Create(tokens, bosId, model.Config.MaxPositions, options);
        int ctx = windows.Context, vocab = model.Config.VocabSize;
        using var session = new InferenceSession(model, ctx, ctx);
        float[] logits = new float[ctx * vocab];
        int[] window = new int[ctx];
        int recordLength = LlamaCppLogitsFile.RecordLength(vocab);
        ushort[] records = options.LogitsFile is null ? [] : new ushort[windows.ScoredPerWindow * recordLength];
        double nll = 0;
        long scored = 0;
        var clock = Stopwatch.StartNew();
        void Run(Stream? output)
        {
            if (output is not null)
            {
                LlamaCppLogitsFile.WriteHeader(output, ctx, vocab, windows.Count, windows.Stream);
            }

            for (int w = 0; w < windows.Count; w++)
            {
                windows.Fill(w, window);
                session.Reset();
                session.Forward(window, logits);
                for (int p = windows.FirstScored; p < ctx - 1; p++)
                {
                    ReadOnlySpan<float> row = logits.AsSpan(p * vocab, vocab);
                    nll += output is null
                        ? -LogProb.Of(row, windows.Target(w, p))
                        : LlamaCppLogitsFile.Encode(row, windows.Target(w, p), records.AsSpan((p - windows.FirstScored) * recordLength, recordLength));
                    scored++;
                }

                output?.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(records.AsSpan()));
                options.Progress?.Invoke(w + 1, windows.Count);
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
        return new PerplexityResult(Math.Exp(mean), mean, windows.StreamTokens, windows.Count, scored, ctx, clock.Elapsed.TotalSeconds);
    }
}
