using System.Diagnostics;

namespace QuantSharp.Models;

/// <summary>Timing of one generation.</summary>
/// <param name="PromptTokens">Prompt tokens processed.</param>
/// <param name="PromptSeconds">Time for the prompt (prefill).</param>
/// <param name="GeneratedTokens">Tokens generated.</param>
/// <param name="GenerateSeconds">Time for generation (decode).</param>
public sealed record GenerationStats(int PromptTokens, double PromptSeconds, int GeneratedTokens, double GenerateSeconds)
{
    /// <summary>Prompt tokens per second.</summary>
    public double PromptTokensPerSecond => PromptSeconds > 0 ? PromptTokens / PromptSeconds : 0;

    /// <summary>Generated tokens per second.</summary>
    public double GenerateTokensPerSecond => GenerateSeconds > 0 ? GeneratedTokens / GenerateSeconds : 0;
}

/// <summary>Autoregressive generation over an <see cref="InferenceSession"/>.</summary>
public sealed class Generator
{
    private readonly TransformerModel _model;

    /// <summary>Creates a generator for a model.</summary>
    public Generator(TransformerModel model) => _model = model;

    private int _promptTokens;
    private double _promptSeconds;
    private int _generated;
    private double _generateSeconds;
    private bool _hasStats;

    /// <summary>Statistics of the last <see cref="Generate"/> run (after it has been enumerated). Kept as plain fields
    /// while generating so the per-token loop allocates nothing.</summary>
    public GenerationStats? LastStats => _hasStats ? new GenerationStats(_promptTokens, _promptSeconds, _generated, _generateSeconds) : null;

    private void Record(int promptTokens, double promptSeconds, int generated, double generateSeconds)
    {
        (_promptTokens, _promptSeconds, _generated, _generateSeconds, _hasStats) = (promptTokens, promptSeconds, generated, generateSeconds, true);
    }

    /// <summary>Feeds <paramref name="prompt"/>, then yields generated token ids one at a time as they are produced.</summary>
    public IEnumerable<int> Generate(IReadOnlyList<int> prompt, SamplingOptions options)
    {
        if (prompt.Count == 0)
        {
            throw new QuantSharpException("the prompt is empty: give text or at least a BOS token");
        }

        int context = Math.Min(_model.Config.MaxPositions, prompt.Count + options.MaxTokens);
        using var session = new InferenceSession(_model, context);
        int vocab = _model.Config.VocabSize;
        float[] logits = new float[vocab];
        var sampler = new Sampler(options, vocab);
        var seen = new List<int>(prompt);
        var eos = new HashSet<int>(_model.Config.EosTokenIds);
        eos.UnionWith(options.StopTokens);
        var clock = Stopwatch.StartNew();
        session.Forward(prompt.ToArray(), logits);
        double promptSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        int generated = 0;
        int[] one = new int[1];
        while (generated < options.MaxTokens)
        {
            int next = sampler.Next(logits, seen);
            generated++;
            seen.Add(next);
            Record(prompt.Count, promptSeconds, generated, clock.Elapsed.TotalSeconds);
            yield return next;
            if ((options.StopAtEos && eos.Contains(next)) || generated >= options.MaxTokens || session.Position >= session.ContextLength)
            {
                break;
            }

            one[0] = next;
            session.Forward(one, logits);
        }

        Record(prompt.Count, promptSeconds, generated, clock.Elapsed.TotalSeconds);
    }
}
