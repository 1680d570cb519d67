using QuantSharp.Tokenizers;
using QuantSharp.Formats;
using QuantSharp.Models;

namespace QuantSharp.Quantization;

/// <summary>
/// Calibration sequences, all of one length, each starting with BOS: drawn from a text (fixed-seed random windows of
/// the tokenized file) or written by the unquantized model itself (data-free: sampled from BOS with a temperature).
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
    /// <paramref name="samples"/> windows of <paramref name="length"/> − 1 consecutive tokens of <paramref name="text"/>
    /// (tokenized as one string), each prefixed with BOS; start positions drawn uniformly with <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="QuantSharpException">The text is shorter than one window, or the tokenizer has no BOS.</exception>
    public static CalibrationData FromText(Tokenizer tokenizer, string text, int samples, int length, int seed, string source)
    {
        int bos = tokenizer.BosId ?? throw new QuantSharpException($"calibration: the tokenizer has no BOS token");
        IReadOnlyList<int> tokens = tokenizer.Encode(text);
        int span = length - 1;
        if (samples < 1 || length < 2)
        {
            throw new QuantSharpException($"calibration: need --calib-samples ≥ 1 and --calib-len ≥ 2 (got {samples}, {length})");
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
            int[] s = new int[length];
            s[0] = bos;
            for (int j = 0; j < span; j++)
            {
                s[j + 1] = tokens[start + j];
            }

            sequences.Add(s);
        }

        return new CalibrationData(sequences, source);
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
