using QuantSharp.Tokenizers;

namespace QuantSharp.Models;

/// <summary>Options of a <see cref="SentenceEncoder"/>.</summary>
public sealed record SentenceEncoderOptions
{
    /// <summary>Hidden state to pool, Hugging Face <c>hidden_states</c> indexing (−1: the last; for a Llama-family decoder
    /// that is the final-normed output).</summary>
    public int Layer { get; init; } = -1;

    /// <summary>Pooling and normalization; null reads the checkpoint folder's sentence-transformers files.</summary>
    public SentencePooling? Pooling { get; init; }

    /// <summary>Texts per forward pass. Texts are sorted by length and packed without padding, so a batch costs only
    /// its real tokens.</summary>
    public int BatchSize { get; init; } = 32;
}

/// <summary>
/// Sentence embeddings from any model QuantSharp loads: tokenize (specials added, truncated to the pipeline's
/// <c>max_seq_length</c>), run texts in packed batches (sorted by length, one forward per batch, each text attending
/// only to itself), take one hidden state, pool and normalize as the checkpoint's sentence-transformers files say.
/// An encoder's texts see their whole sequence; a decoder's see causally. Not thread-safe (one instance per thread).
/// </summary>
public sealed class SentenceEncoder : IDisposable
{
    private readonly TransformerModel _model;
    private readonly Tokenizer? _tokenizer;
    private readonly int _hiddenIndex;
    private BlockRunner? _runner;

    /// <summary>Creates an encoder over <paramref name="model"/> (owned by the caller).</summary>
    /// <exception cref="QuantSharpException">A layer outside the model's hidden states, or a batch size below 1.</exception>
    public SentenceEncoder(TransformerModel model, Tokenizer? tokenizer, SentencePooling pooling, int layer = -1, int batchSize = 32)
    {
        _model = model;
        _tokenizer = tokenizer;
        Pooling = pooling;
        int count = model.Config.Layers + 1;
        if (layer < -count || layer >= count)
        {
            throw new QuantSharpException($"layer {layer} is out of range: this model has {count} hidden states (0..{count - 1}, or -{count}..-1 from the end)");
        }

        if (batchSize < 1)
        {
            throw new QuantSharpException($"batch size {batchSize} must be at least 1");
        }

        _hiddenIndex = layer < 0 ? layer + count : layer;
        BatchSize = batchSize;
        int context = model.Config.MaxPositions;
        MaxSequenceLength = Math.Min(pooling.MaxSequenceLength ?? context, context);
    }

    /// <summary>An encoder for a loaded checkpoint, with the pooling its folder describes unless <paramref name="options"/> gives one.</summary>
    public static SentenceEncoder Create(LoadedModel loaded, SentenceEncoderOptions? options = null)
    {
        options ??= new SentenceEncoderOptions();
        SentencePooling pooling = options.Pooling ?? (Directory.Exists(loaded.Path) ? SentencePooling.Load(loaded.Path) : new SentencePooling());
        return new SentenceEncoder(loaded.Model, loaded.Tokenizer, pooling, options.Layer, options.BatchSize);
    }

    /// <summary>Pooling and normalization in use.</summary>
    public SentencePooling Pooling { get; }

    /// <summary>Texts per forward pass.</summary>
    public int BatchSize { get; }

    /// <summary>Longest token sequence; longer texts are truncated (specials kept).</summary>
    public int MaxSequenceLength { get; }

    /// <summary>Length of an embedding (the hidden size).</summary>
    public int Dimension => _model.Config.HiddenSize;

    /// <summary>The index into <c>hidden_states</c> that is pooled.</summary>
    public int HiddenStateIndex => _hiddenIndex;

    /// <summary>The ids the model reads for <paramref name="text"/>: specials added, the text truncated to fit
    /// <see cref="MaxSequenceLength"/>.</summary>
    /// <exception cref="QuantSharpException">The checkpoint has no tokenizer.</exception>
    public int[] Tokenize(string text)
    {
        Tokenizer tokenizer = _tokenizer ?? throw new QuantSharpException("this model has no tokenizer; pass token ids");
        int[] body = tokenizer.Encode(text, addSpecialTokens: false);
        int room = Math.Max(0, MaxSequenceLength - tokenizer.Prefix.Count - tokenizer.Suffix.Count);
        return [.. tokenizer.Prefix, .. body.AsSpan(0, Math.Min(room, body.Length)), .. tokenizer.Suffix];
    }

    /// <summary>One embedding per text, in order.</summary>
    public float[][] Embed(IReadOnlyList<string> texts) => EmbedIds([.. texts.Select(Tokenize)]);

    /// <summary>One embedding per token sequence, in order.</summary>
    /// <exception cref="QuantSharpException">An empty sequence, one longer than the model's context, or an id outside the vocabulary.</exception>
    public float[][] EmbedIds(IReadOnlyList<int[]> sequences)
    {
        var result = new float[sequences.Count][];
        Run(sequences, (batch, lengths, index, states) =>
        {
            if (index != _hiddenIndex)
            {
                return true;
            }

            float[][] pooled = PoolPacked(states, lengths);
            for (int i = 0; i < batch.Count; i++)
            {
                result[batch[i]] = pooled[i];
            }

            return false;
        });
        return result;
    }

    /// <summary>One pooled (and normalized) vector per sequence of a packed batch's hidden states.</summary>
    internal float[][] PoolPacked(ReadOnlySpan<float> states, int[] lengths)
    {
        int d = Dimension, start = 0;
        var result = new float[lengths.Length][];
        for (int i = 0; i < lengths.Length; i++)
        {
            result[i] = new float[d];
            Pooling.Pool(states.Slice(start * d, lengths[i] * d), lengths[i], result[i]);
            start += lengths[i];
        }

        return result;
    }

    /// <summary>Called with a batch (indices into the input, their token counts) and one hidden state of it (packed
    /// tokens × hidden); return true to go on to the next hidden state, false to end the batch.</summary>
    internal delegate bool HiddenStatesHandler(IReadOnlyList<int> batch, int[] lengths, int hiddenIndex, ReadOnlySpan<float> states);

    /// <summary>Runs every sequence in length-sorted packed batches, reporting hidden states 0, 1, … of each batch.</summary>
    internal void Run(IReadOnlyList<int[]> sequences, HiddenStatesHandler handler)
    {
        foreach (int[] s in sequences)
        {
            if (s.Length == 0 || s.Length > _model.Config.MaxPositions)
            {
                throw new QuantSharpException($"a sequence of {s.Length} tokens: the model takes 1..{_model.Config.MaxPositions}");
            }
        }

        int[] order = [.. Enumerable.Range(0, sequences.Count).OrderByDescending(i => sequences[i].Length)];
        int d = Dimension;
        for (int first = 0; first < order.Length; first += BatchSize)
        {
            int[] batch = order[first..Math.Min(order.Length, first + BatchSize)];
            int[] lengths = [.. batch.Select(i => sequences[i].Length)];
            int tokens = lengths.Sum();
            if (_runner is null || _runner.MaxTokens < tokens)
            {
                _runner?.Dispose();
                _runner = new BlockRunner(_model, Math.Max(tokens, _runner?.MaxTokens ?? 0));
            }

            int[] ids = [.. batch.SelectMany(i => sequences[i])];
            float[] x = new float[tokens * d];
            BlockRunner.Embed(_model, ids, lengths, x);
            bool more = handler(batch, lengths, 0, x);
            for (int l = 0; more && l < _model.Blocks.Length; l++)
            {
                _runner.Run(_model.Blocks[l], l, x, lengths);
                if (l == _model.Blocks.Length - 1 && _model.Spec.LastHiddenStateIsNormed && _model.FinalNorm is float[] norm)
                {
                    BlockOps.Normalize(_model.Spec, x, norm, _model.FinalNormBias, _model.Config.NormEps, x, tokens);
                }

                more = handler(batch, lengths, l + 1, x);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _runner?.Dispose();
}
