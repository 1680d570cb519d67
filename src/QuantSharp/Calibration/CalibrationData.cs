using QuantSharp.Tokenizers;
using QuantSharp.Formats;
using QuantSharp.Models;

using QuantSharp.Quantization;

namespace QuantSharp.Calibration;

/// <summary>
/// Calibration sequences, all of one length, each starting with BOS (an encoder's wrapped in its specials): drawn from a
/// text (fixed-seed random windows of the tokenized file) or data-free — written by an unquantized decoder itself
/// (sampled from BOS with a temperature), or drawn from a unigram prior over an encoder's vocabulary.
/// </summary>
public sealed class CalibrationData
{
    private CalibrationData(IReadOnlyList<int[]> sequences, string source)
    {
        Sequences = sequences;
        Source = source;
    }

    /// <summary>The sequences (BOS first), all <see cref="Length"/> tokens long.</summary>
    public IReadOnlyList<int[]> Sequences { get; }

    /// <summary>Where the sequences came from (a file path, or <c>self</c>).</summary>
    public string Source { get; }

    /// <summary>Tokens per sequence.</summary>
    public int Length => Sequences[0].Length;

    /// <summary>Total tokens.</summary>
    public long Tokens => (long)Sequences.Count * Length;

    /// <summary>Wraps given sequences (all the same length, at least 2 tokens).</summary>
    /// <exception cref="QuantSharpException">Empty, or of unequal lengths.</exception>
    public static CalibrationData FromSequences(IReadOnlyList<int[]> sequences, string source)
    {
        if (sequences.Count == 0 || sequences[0].Length < 2 || sequences.Any(s => s.Length != sequences[0].Length))
        {
            throw new QuantSharpException($"calibration data from {source}: need at least one sequence, all of one length ≥ 2");
        }

        return new CalibrationData(sequences, source);
    }

    /// <summary>
    /// <paramref name="samples"/> windows of consecutive tokens of <paramref name="text"/> (tokenized as one string),
    /// <paramref name="length"/> tokens with the specials: a decoder's windows start with BOS; an encoder's
    /// (<paramref name="encoder"/>) are wrapped in the tokenizer's prefix and suffix ([CLS] … [SEP]), as a sentence
    /// is. Start positions drawn uniformly with <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="QuantSharpException">The text is shorter than one window, or a decoder's tokenizer has no BOS.</exception>
    public static CalibrationData FromText(Tokenizer tokenizer, string text, int samples, int length, int seed, string source, bool encoder = false)
    {
        int[] prefix = encoder ? [.. tokenizer.Prefix] : [tokenizer.BosId ?? throw new QuantSharpException($"calibration: the tokenizer has no BOS token")];
        int[] suffix = encoder ? [.. tokenizer.Suffix] : [];
        IReadOnlyList<int> tokens = tokenizer.Encode(text);
        int span = length - prefix.Length - suffix.Length;
        if (samples < 1 || span < 1)
        {
            throw new QuantSharpException($"calibration: need --calib-samples ≥ 1 and --calib-len ≥ {prefix.Length + suffix.Length + 1} (got {samples}, {length})");
        }

        if (tokens.Count < span)
        {
            throw new QuantSharpException($"{source}: {tokens.Count} tokens, fewer than one calibration window of {span}; use a shorter --calib-len or a longer file");
        }

        var rng = new Random(seed);
        var sequences = new List<int[]>(samples);
        for (int i = 0; i < samples; i++)
        {
            int start = rng.Next(0, tokens.Count - span + 1);
            sequences.Add([.. prefix, .. Enumerable.Range(start, span).Select(j => tokens[j]), .. suffix]);
        }

        return new CalibrationData(sequences, source);
    }

    /// <summary>
    /// Data-free calibration for an encoder, which cannot write its own text: each sequence is the tokenizer's prefix,
    /// tokens drawn from a Zipf law over the vocabulary's ordinary tokens in id order (p(rank r) ∝ 1/(r + 10); WordPiece
    /// and BPE vocabularies list tokens roughly by training frequency), and the suffix. Special, control and
    /// <c>[unused…]</c> tokens are never drawn.
    /// </summary>
    /// <exception cref="QuantSharpException">Bad counts, or a vocabulary without ordinary tokens.</exception>
    public static CalibrationData Unigram(Tokenizer tokenizer, int samples, int length, int seed)
    {
        int span = length - tokenizer.Prefix.Count - tokenizer.Suffix.Count;
        if (samples < 1 || span < 1)
        {
            throw new QuantSharpException($"calibration: need --calib-samples ≥ 1 and --calib-len > {tokenizer.Prefix.Count + tokenizer.Suffix.Count} (got {samples}, {length})");
        }

        int[] ordinary = [.. Enumerable.Range(0, tokenizer.VocabSize).Where(id => !tokenizer.IsSpecial(id)
            && tokenizer.TokenToString(id) is string t && t.Length > 0 && !t.StartsWith("[unused", StringComparison.Ordinal) && !t.StartsWith("<unused", StringComparison.Ordinal))];
        if (ordinary.Length == 0)
        {
            throw new QuantSharpException("calibration: the vocabulary has no ordinary tokens to draw");
        }

        double[] cumulative = new double[ordinary.Length];
        double total = 0;
        for (int r = 0; r < ordinary.Length; r++)
        {
            total += 1.0 / (r + 10);
            cumulative[r] = total;
        }

        var rng = new Random(seed);
        var sequences = new List<int[]>(samples);
        for (int i = 0; i < samples; i++)
        {
            int[] body = new int[span];
            for (int j = 0; j < span; j++)
            {
                int r = Array.BinarySearch(cumulative, rng.NextDouble() * total);
                body[j] = ordinary[Math.Min(r < 0 ? ~r : r, ordinary.Length - 1)];
            }

            sequences.Add([.. tokenizer.Prefix, .. body, .. tokenizer.Suffix]);
        }

        return new CalibrationData(sequences, "self");
    }

    /// <summary>
    /// Data-free calibration: the model samples <paramref name="samples"/> sequences of <paramref name="length"/> tokens
    /// from BOS at <paramref name="temperature"/> (sequence i uses seed <paramref name="seed"/> + i; EOS does not stop it).
    /// </summary>
    public static CalibrationData SelfGenerated(TransformerModel model, int bos, int samples, int length, float temperature, int seed, Action<int, int>? progress = null)
    {
        if (samples < 1 || length < 2 || length > model.Config.MaxPositions)
        {
            throw new QuantSharpException($"calibration: need --calib-samples ≥ 1 and 2 ≤ --calib-len ≤ {model.Config.MaxPositions} (got {samples}, {length})");
        }

        var generator = new Generator(model);
        var sequences = new List<int[]>(samples);
        for (int i = 0; i < samples; i++)
        {
            var options = new SamplingOptions { MaxTokens = length - 1, Temperature = temperature, Seed = seed + i, StopAtEos = false };
            int[] s = [bos, .. generator.Generate([bos], options)];
            if (s.Length != length)
            {
                throw new QuantSharpException($"calibration: generation stopped after {s.Length} tokens, expected {length}");
            }

            sequences.Add(s);
            progress?.Invoke(i + 1, samples);
        }

        return new CalibrationData(sequences, "self");
    }
}
