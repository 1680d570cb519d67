using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>
/// The mutable state of one running sequence: KV cache, position and activation buffers, all allocated once, so
/// decoding a token allocates nothing. Tokens are appended with <see cref="Forward"/>.
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly TransformerModel _model;
    private readonly KvCache _cache;
    private readonly ForwardPass _pass;
    private readonly ForwardPass.Segment[] _segment = new ForwardPass.Segment[1];

    /// <summary>Creates a session for up to <paramref name="contextLength"/> positions, processing at most
    /// <paramref name="maxBatch"/> tokens per step internally (longer inputs are split).</summary>
    /// <exception cref="QuantSharpException">The model is an encoder (no causal decoding; see <see cref="SentenceEncoder"/>).</exception>
    public InferenceSession(TransformerModel model, int contextLength = 0, int maxBatch = 256)
    {
        ModelConfig c = model.Config;
        _model = model;
        model.RequireHead();
        ContextLength = contextLength > 0 ? Math.Min(contextLength, c.MaxPositions) : c.MaxPositions;
        int rotaryDim = (int)(c.HeadDim * model.Spec.RotaryFraction) / 2 * 2;
        Rope = model.Spec.Rope == RopeStyle.None ? null : new RotaryEmbedding(c.HeadDim, rotaryDim, c.RopeTheta, ContextLength, model.Spec.Rope, c.RopeScaling);
        _cache = new KvCache(c.Layers, c.KvHeads, c.HeadDim, ContextLength);
        _pass = new ForwardPass(model, Math.Max(1, Math.Min(maxBatch, ContextLength)), 1);
    }

    /// <summary>The model this session runs.</summary>
    public TransformerModel Model => _model;

    /// <summary>Positions this session can hold.</summary>
    public int ContextLength { get; }

    /// <summary>Tokens consumed so far (the position of the next token).</summary>
    public int Position { get; private set; }

    /// <summary>First key position attention may see (set for left-padded input so pad keys are masked). With it set, a
    /// token at position p ≥ KeyStart is rotated as position p − KeyStart and a pad as position 0, as the
    /// <c>position_ids</c> of a left-padded batch; pad query rows see every key when the spec's
    /// <see cref="ArchitectureSpec.PaddedQueriesAttendAll"/> says so (then pads and the tokens after them must be fed in one
    /// <see cref="Forward"/> call that fits in one internal batch).</summary>
    public int KeyStart { get; set; }

    /// <summary>When set, called with (index, rows, tokens) for each hidden state as Hugging Face's
    /// <c>output_hidden_states</c> lists them: index 0 is the embedding output, index i the output of block i, and
    /// index Layers the final-normed output (the last block's un-normed output where
    /// <see cref="ArchitectureSpec.LastHiddenStateIsNormed"/> is false, as GLM's code returns it).</summary>
    public Action<int, ReadOnlySpan<float>, int>? HiddenStateObserver { get; set; }

    /// <summary>Bytes of KV cache and activation buffers.</summary>
    public long StateBytes => _cache.Bytes + _pass.Bytes;

    internal KvCache Cache => _cache;

    internal RotaryEmbedding? Rope { get; }

    internal void Advance(int tokens) => Position += tokens;

    /// <summary>Forgets all tokens (the next token goes to position 0).</summary>
    public void Reset()
    {
        Position = 0;
        KeyStart = 0;
    }

    /// <summary>
    /// Appends <paramref name="tokens"/> and computes logits: for the last token only when <paramref name="logits"/>
    /// holds one vocabulary row, or for every token when it holds tokens × vocab floats.
    /// </summary>
    /// <exception cref="QuantSharpException">A token id outside the vocabulary, or the context is full.</exception>
    public void Forward(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        int vocab = _model.Config.VocabSize;
        bool all = logits.Length >= (long)tokens.Length * vocab && tokens.Length > 1;
        if (!all && logits.Length < vocab)
        {
            throw new ArgumentException($"logits must hold {vocab} or {tokens.Length}×{vocab} floats", nameof(logits));
        }

        CheckTokens(tokens);
        int maxBatch = _pass.MaxRows;
        if (_model.Spec.PaddedQueriesAttendAll && Position < KeyStart && tokens.Length > maxBatch)
        {
            throw new QuantSharpException($"{tokens.Length} tokens after left padding exceed the session's batch of {maxBatch}; pad rows must see every key, so create the session with maxBatch ≥ the padded length");
        }

        for (int start = 0; start < tokens.Length; start += maxBatch)
        {
            int n = Math.Min(maxBatch, tokens.Length - start);
            bool lastChunk = start + n == tokens.Length;
            Span<float> chunkLogits = all ? logits.Slice(start * vocab, n * vocab) : (lastChunk ? logits[..vocab] : default);
            _segment[0] = new ForwardPass.Segment(this, 0, n);
            _pass.Run(_segment, tokens.Slice(start, n), chunkLogits, all, HiddenStateObserver);
        }
    }

    /// <summary>Throws unless <paramref name="tokens"/> are vocabulary ids that fit in the remaining context.</summary>
    internal void CheckTokens(ReadOnlySpan<int> tokens)
    {
        if (Position + tokens.Length > ContextLength)
        {
            throw new QuantSharpException($"context is full: {Position} + {tokens.Length} tokens exceed the session's {ContextLength} positions");
        }

        int vocab = _model.Config.VocabSize;
        foreach (int token in tokens)
        {
            if ((uint)token >= (uint)vocab)
            {
                throw new QuantSharpException($"token id {token} is outside the vocabulary of {vocab}");
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _cache.Dispose();
}
