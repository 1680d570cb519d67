using System.Numerics.Tensors;
using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>
/// The mutable state of one running sequence: KV cache, position and activation buffers, all allocated once, so
/// decoding a token allocates nothing. Tokens are appended with <see cref="Forward"/>.
/// </summary>
public sealed class InferenceSession : IDisposable
{
    private readonly TransformerModel _model;
    private readonly RotaryEmbedding? _rope;
    private readonly float[] _finalNorm;
    private readonly ILinearWeight _head;
    private readonly KvCache _cache;
    private readonly int _maxBatch;
    private readonly int _qDim;
    private readonly int _kvDim;
    private readonly float[] _x, _xn, _q, _k, _v, _att, _o, _gate, _up, _fused, _lastNormed;

    /// <summary>Creates a session for up to <paramref name="contextLength"/> positions, processing at most
    /// <paramref name="maxBatch"/> tokens per step internally (longer inputs are split).</summary>
    /// <exception cref="QuantSharpException">The model is an encoder (no causal decoding; see <see cref="SentenceEncoder"/>).</exception>
    public InferenceSession(TransformerModel model, int contextLength = 0, int maxBatch = 256)
    {
        ModelConfig c = model.Config;
        _model = model;
        (_finalNorm, _head) = model.RequireHead();
        ContextLength = contextLength > 0 ? Math.Min(contextLength, c.MaxPositions) : c.MaxPositions;
        _maxBatch = Math.Max(1, Math.Min(maxBatch, ContextLength));
        _qDim = c.Heads * c.HeadDim;
        _kvDim = c.KvHeads * c.HeadDim;
        int rotaryDim = (int)(c.HeadDim * model.Spec.RotaryFraction) / 2 * 2;
        _rope = model.Spec.Rope == RopeStyle.None ? null : new RotaryEmbedding(c.HeadDim, rotaryDim, c.RopeTheta, ContextLength, model.Spec.Rope, c.RopeScaling);
        _cache = new KvCache(c.Layers, c.KvHeads, c.HeadDim, ContextLength);
        int b = _maxBatch;
        _x = new float[b * c.HiddenSize];
        _xn = new float[b * c.HiddenSize];
        _q = new float[b * _qDim];
        _k = new float[b * _kvDim];
        _v = new float[b * _kvDim];
        _att = new float[b * _qDim];
        _o = new float[b * c.HiddenSize];
        _gate = new float[b * c.IntermediateSize];
        _up = new float[model.Spec.Mlp == MlpKind.SwiGlu ? b * c.IntermediateSize : 0];
        int fused = Math.Max(model.Spec.Qkv is null ? 0 : _qDim + 2 * _kvDim, model.Spec.GateUp is null ? 0 : 2 * c.IntermediateSize);
        _fused = new float[b * fused];
        _lastNormed = new float[c.HiddenSize];
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
    public long StateBytes => _cache.Bytes + 4L * (_x.Length + _xn.Length + _q.Length + _k.Length + _v.Length + _att.Length + _o.Length + _gate.Length + _up.Length + _fused.Length);

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

        if (Position + tokens.Length > ContextLength)
        {
            throw new QuantSharpException($"context is full: {Position} + {tokens.Length} tokens exceed the session's {ContextLength} positions");
        }

        foreach (int token in tokens)
        {
            if ((uint)token >= (uint)vocab)
            {
                throw new QuantSharpException($"token id {token} is outside the vocabulary of {vocab}");
            }
        }

        if (_model.Spec.PaddedQueriesAttendAll && Position < KeyStart && tokens.Length > _maxBatch)
        {
            throw new QuantSharpException($"{tokens.Length} tokens after left padding exceed the session's batch of {_maxBatch}; pad rows must see every key, so create the session with maxBatch ≥ the padded length");
        }

        for (int start = 0; start < tokens.Length; start += _maxBatch)
        {
            int n = Math.Min(_maxBatch, tokens.Length - start);
            bool lastChunk = start + n == tokens.Length;
            Span<float> chunkLogits = all ? logits.Slice(start * vocab, n * vocab) : (lastChunk ? logits[..vocab] : default);
            ForwardChunk(tokens.Slice(start, n), chunkLogits, all, lastChunk || all);
        }
    }

    private void ForwardChunk(ReadOnlySpan<int> tokens, Span<float> logits, bool all, bool wantLogits)
    {
        ModelConfig c = _model.Config;
        ArchitectureSpec spec = _model.Spec;
        int d = c.HiddenSize;
        int f = c.IntermediateSize;
        int n = tokens.Length;
        int pos = Position;
        float eps = c.NormEps;
        Span<float> x = _x.AsSpan(0, n * d);
        Span<float> xn = _xn.AsSpan(0, n * d);
        _model.Embed(tokens, pos, x);

        for (int l = 0; l < _model.Blocks.Length; l++)
        {
            HiddenStateObserver?.Invoke(l, x, n);
            BlockWeights b = _model.Blocks[l];
            ReadOnlySpan<float> input = BlockOps.SublayerInput(spec, x, b.AttnNorm, b.AttnNormBias, eps, xn, n);
            Span<float> q = _q.AsSpan(0, n * _qDim);
            Span<float> k = _k.AsSpan(0, n * _kvDim);
            Span<float> v = _v.AsSpan(0, n * _kvDim);
            BlockOps.ProjectQkv(b, input, n, _qDim, _kvDim, _fused, q, k, v);

            for (int t = 0; t < n; t++)
            {
                int ropePosition = pos + t >= KeyStart ? pos + t - KeyStart : 0;
                _rope?.Apply(q.Slice(t * _qDim, _qDim), c.Heads, ropePosition);
                _rope?.Apply(k.Slice(t * _kvDim, _kvDim), c.KvHeads, ropePosition);
                _cache.Store(l, pos + t, k.Slice(t * _kvDim, _kvDim), v.Slice(t * _kvDim, _kvDim));
            }

            Span<float> att = _att.AsSpan(0, n * _qDim);
            Attention.Run(q, att, _cache, l, c.Heads, pos, n, KeyStart, padRowsSeeAllKeys: spec.PaddedQueriesAttendAll);
            Span<float> o = _o.AsSpan(0, n * d);
            b.O.MatMul(att, n, o);
            BlockOps.Residual(spec, x, o, b.OBias, b.AttnNorm, b.AttnNormBias, eps, n);

            input = BlockOps.SublayerInput(spec, x, b.MlpNorm, b.MlpNormBias, eps, xn, n);
            Span<float> gate = _gate.AsSpan(0, n * f);
            Span<float> up = _up.AsSpan(0, _up.Length == 0 ? 0 : n * f);
            BlockOps.MlpActivation(spec, b, input, n, f, _fused, gate, up);
            b.Down.MatMul(gate, n, o);
            BlockOps.Residual(spec, x, o, b.DownBias, b.MlpNorm, b.MlpNormBias, eps, n);
        }

        Position = pos + n;
        if (!spec.LastHiddenStateIsNormed)
        {
            HiddenStateObserver?.Invoke(_model.Blocks.Length, x, n);
        }

        if (all)
        {
            BlockOps.Normalize(spec, x, _finalNorm, _model.FinalNormBias, eps, xn, n);
            if (spec.LastHiddenStateIsNormed)
            {
                HiddenStateObserver?.Invoke(_model.Blocks.Length, xn, n);
            }

            _head.MatMul(xn, n, logits);
        }
        else if (wantLogits || HiddenStateObserver is not null)
        {
            if (HiddenStateObserver is not null && spec.LastHiddenStateIsNormed)
            {
                BlockOps.Normalize(spec, x, _finalNorm, _model.FinalNormBias, eps, xn, n);
                HiddenStateObserver(_model.Blocks.Length, xn, n);
                xn.Slice((n - 1) * d, d).CopyTo(_lastNormed);
            }
            else
            {
                BlockOps.Normalize(spec, x.Slice((n - 1) * d, d), _finalNorm, _model.FinalNormBias, eps, _lastNormed, 1);
            }

            if (wantLogits)
            {
                _head.MatVec(_lastNormed, logits[..c.VocabSize]);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _cache.Dispose();
}
