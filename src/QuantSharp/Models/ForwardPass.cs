using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>
/// One forward step through the blocks for rows that come from one or more sequences: every linear multiplies all rows
/// at once (the weights are streamed once per step, whoever the rows belong to), while rotary positions, the KV cache
/// and attention are per sequence. <see cref="InferenceSession"/> runs its own tokens through one; a
/// <see cref="SequenceBatch"/> runs the next tokens of several sessions through one.
/// </summary>
internal sealed class ForwardPass
{
    /// <summary><see cref="Count"/> rows starting at row <see cref="Offset"/> belong to <see cref="Session"/> and go to its
    /// positions from <see cref="InferenceSession.Position"/> on.</summary>
    internal readonly record struct Segment(InferenceSession Session, int Offset, int Count);

    private readonly TransformerModel _model;
    private readonly float[] _finalNorm;
    private readonly ILinearWeight _head;
    private readonly int _qDim;
    private readonly int _kvDim;
    private readonly float[] _x, _xn, _q, _k, _v, _att, _o, _gate, _up, _fused, _last;

    public ForwardPass(TransformerModel model, int maxRows, int maxSegments)
    {
        ModelConfig c = model.Config;
        _model = model;
        (_finalNorm, _head) = model.RequireHead();
        MaxRows = maxRows;
        _qDim = c.Heads * c.HeadDim;
        _kvDim = c.KvHeads * c.HeadDim;
        int b = maxRows;
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
        _last = new float[maxSegments * c.HiddenSize];
    }

    /// <summary>Rows one step can hold.</summary>
    public int MaxRows { get; }

    /// <summary>Bytes of the activation buffers.</summary>
    public long Bytes => 4L * (_x.Length + _xn.Length + _q.Length + _k.Length + _v.Length + _att.Length + _o.Length + _gate.Length + _up.Length + _fused.Length + _last.Length);

    /// <summary>
    /// Appends each segment's tokens to its session. Logits: with <paramref name="allRows"/> (one segment only) for every
    /// row; otherwise, when <paramref name="logits"/> is not empty, for the last row of each segment, segment by segment.
    /// <paramref name="observer"/> (one segment only) sees each hidden state as <see cref="InferenceSession.HiddenStateObserver"/>
    /// describes.
    /// </summary>
    public void Run(ReadOnlySpan<Segment> segments, ReadOnlySpan<int> tokens, Span<float> logits, bool allRows, Action<int, ReadOnlySpan<float>, int>? observer)
    {
        ModelConfig c = _model.Config;
        ArchitectureSpec spec = _model.Spec;
        int d = c.HiddenSize;
        int f = c.IntermediateSize;
        int n = tokens.Length;
        float eps = c.NormEps;
        Span<float> x = _x.AsSpan(0, n * d);
        Span<float> xn = _xn.AsSpan(0, n * d);
        foreach (Segment s in segments)
        {
            _model.Embed(tokens.Slice(s.Offset, s.Count), s.Session.Position, x.Slice(s.Offset * d, s.Count * d));
        }

        for (int l = 0; l < _model.Blocks.Length; l++)
        {
            observer?.Invoke(l, x, n);
            BlockWeights b = _model.Blocks[l];
            ReadOnlySpan<float> input = BlockOps.SublayerInput(spec, x, b.AttnNorm, b.AttnNormBias, eps, xn, n);
            Span<float> q = _q.AsSpan(0, n * _qDim);
            Span<float> k = _k.AsSpan(0, n * _kvDim);
            Span<float> v = _v.AsSpan(0, n * _kvDim);
            BlockOps.ProjectQkv(b, input, n, _qDim, _kvDim, _fused, q, k, v);
            Span<float> att = _att.AsSpan(0, n * _qDim);
            foreach (Segment s in segments)
            {
                InferenceSession session = s.Session;
                int pos = session.Position;
                for (int t = s.Offset; t < s.Offset + s.Count; t++)
                {
                    int position = pos + t - s.Offset;
                    int ropePosition = position >= session.KeyStart ? position - session.KeyStart : 0;
                    session.Rope?.Apply(q.Slice(t * _qDim, _qDim), c.Heads, ropePosition);
                    session.Rope?.Apply(k.Slice(t * _kvDim, _kvDim), c.KvHeads, ropePosition);
                    session.Cache.Store(l, position, k.Slice(t * _kvDim, _kvDim), v.Slice(t * _kvDim, _kvDim));
                }

                Attention.Run(q.Slice(s.Offset * _qDim, s.Count * _qDim), att.Slice(s.Offset * _qDim, s.Count * _qDim), session.Cache, l, c.Heads, pos, s.Count, session.KeyStart, padRowsSeeAllKeys: spec.PaddedQueriesAttendAll);
            }

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

        foreach (Segment s in segments)
        {
            s.Session.Advance(s.Count);
        }

        if (!spec.LastHiddenStateIsNormed)
        {
            observer?.Invoke(_model.Blocks.Length, x, n);
        }

        if (allRows || (observer is not null && spec.LastHiddenStateIsNormed))
        {
            BlockOps.Normalize(spec, x, _finalNorm, _model.FinalNormBias, eps, xn, n);
            if (spec.LastHiddenStateIsNormed)
            {
                observer?.Invoke(_model.Blocks.Length, xn, n);
            }

            if (allRows)
            {
                _head.MatMul(xn, n, logits);
                return;
            }

            for (int i = 0; i < segments.Length; i++)
            {
                Segment s = segments[i];
                xn.Slice((s.Offset + s.Count - 1) * d, d).CopyTo(_last.AsSpan(i * d, d));
            }
        }
        else if (!logits.IsEmpty)
        {
            for (int i = 0; i < segments.Length; i++)
            {
                Segment s = segments[i];
                BlockOps.Normalize(spec, x.Slice((s.Offset + s.Count - 1) * d, d), _finalNorm, _model.FinalNormBias, eps, _last.AsSpan(i * d, d), 1);
            }
        }

        if (logits.IsEmpty)
        {
            return;
        }

        int vocab = c.VocabSize;
        if (segments.Length == 1)
        {
            _head.MatVec(_last.AsSpan(0, d), logits[..vocab]);
        }
        else
        {
            _head.MatMul(_last.AsSpan(0, segments.Length * d), segments.Length, logits[..(segments.Length * vocab)]);
        }
    }
}
