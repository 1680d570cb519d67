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
    private readonly float[] _x, _last;
    private readonly BlockBuffers _b;

    public ForwardPass(TransformerModel model, int maxRows, int maxSegments)
    {
        ModelConfig c = model.Config;
        _model = model;
        (_finalNorm, _head) = model.RequireHead();
        MaxRows = maxRows;
        _x = new float[maxRows * c.HiddenSize];
        _b = new BlockBuffers(c, model.Spec, maxRows);
        _last = new float[maxSegments * c.HiddenSize];
    }

    /// <summary>Rows one step can hold.</summary>
    public int MaxRows { get; }

    /// <summary>Bytes of the activation buffers.</summary>
    public long Bytes => (4L * (_x.Length + _last.Length)) + _b.Bytes;

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
        Span<float> xn = _b.Xn.AsSpan(0, n * d);
        foreach (Segment s in segments)
        {
            _model.Embed(tokens.Slice(s.Offset, s.Count), s.Session.Position, x.Slice(s.Offset * d, s.Count * d));
        }

        for (int l = 0; l < _model.Blocks.Length; l++)
        {
            observer?.Invoke(l, x, n);
            BlockWeights b = _model.Blocks[l];
            ReadOnlySpan<float> input = BlockOps.SublayerInput(spec, x, b.AttnNorm, b.AttnNormBias, eps, xn, n);
            Span<float> q = _b.Q.AsSpan(0, n * _b.QDim);
            Span<float> k = _b.K.AsSpan(0, n * _b.KvDim);
            Span<float> v = _b.V.AsSpan(0, n * _b.KvDim);
            BlockOps.ProjectQkv(b, input, n, _b.QDim, _b.KvDim, _b.Fused, q, k, v);
            Span<float> att = _b.Att.AsSpan(0, n * _b.QDim);
            foreach (Segment s in segments)
            {
                InferenceSession session = s.Session;
                int pos = session.Position;
                for (int t = s.Offset; t < s.Offset + s.Count; t++)
                {
                    int position = pos + t - s.Offset;
                    int ropePosition = position >= session.KeyStart ? position - session.KeyStart : 0;
                    session.Rope?.Apply(q.Slice(t * _b.QDim, _b.QDim), c.Heads, ropePosition);
                    session.Rope?.Apply(k.Slice(t * _b.KvDim, _b.KvDim), c.KvHeads, ropePosition);
                    session.Cache.Store(l, position, k.Slice(t * _b.KvDim, _b.KvDim), v.Slice(t * _b.KvDim, _b.KvDim));
                }

                Attention.Run(q.Slice(s.Offset * _b.QDim, s.Count * _b.QDim), att.Slice(s.Offset * _b.QDim, s.Count * _b.QDim), session.Cache, l, c.Heads, pos, s.Count, session.KeyStart, padRowsSeeAllKeys: spec.PaddedQueriesAttendAll);
            }

            Span<float> o = _b.O.AsSpan(0, n * d);
            b.O.MatMul(att, n, o);
            BlockOps.Residual(spec, x, o, b.OBias, b.AttnNorm, b.AttnNormBias, eps, n);

            input = BlockOps.SublayerInput(spec, x, b.MlpNorm, b.MlpNormBias, eps, xn, n);
            Span<float> gate = _b.Gate.AsSpan(0, n * f);
            Span<float> up = _b.Up.AsSpan(0, _b.Up.Length == 0 ? 0 : n * f);
            BlockOps.MlpActivation(spec, b, input, n, f, _b.Fused, gate, up);
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
