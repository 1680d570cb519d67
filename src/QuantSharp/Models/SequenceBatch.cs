namespace QuantSharp.Models;

/// <summary>
/// Advances several <see cref="InferenceSession"/>s of one model in a single forward pass: each session contributes
/// one token (decoding) or a chunk of its prompt (prefill), every linear layer multiplies all of those rows at once, so
/// the weights are streamed once per step for the whole batch. Attention and the KV cache stay per session; the result
/// for each session equals running its tokens through <see cref="InferenceSession.Forward"/> alone.
/// </summary>
public sealed class SequenceBatch
{
    private readonly TransformerModel _model;
    private readonly ForwardPass _pass;
    private readonly ForwardPass.Segment[] _segments;

    /// <summary>Creates a batch runner for up to <paramref name="maxTokens"/> rows per step from up to
    /// <paramref name="maxSequences"/> sessions.</summary>
    public SequenceBatch(TransformerModel model, int maxSequences, int maxTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequences, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, maxSequences);
        _model = model;
        _pass = new ForwardPass(model, maxTokens, maxSequences);
        _segments = new ForwardPass.Segment[maxSequences];
    }

    /// <summary>Sessions one step can advance.</summary>
    public int MaxSequences => _segments.Length;

    /// <summary>Tokens (rows) one step can hold, all sessions together.</summary>
    public int MaxTokens => _pass.MaxRows;

    /// <summary>
    /// Appends to session i the next <paramref name="counts"/>[i] ids of <paramref name="tokens"/> (sessions' tokens
    /// concatenated in order) and writes the logits of each session's last new token to row i of
    /// <paramref name="logits"/> (sessions × vocabulary floats).
    /// </summary>
    /// <exception cref="QuantSharpException">A token id outside the vocabulary, or a session's context is full.</exception>
    public void Forward(ReadOnlySpan<InferenceSession> sessions, ReadOnlySpan<int> tokens, ReadOnlySpan<int> counts, Span<float> logits)
    {
        int vocab = _model.Config.VocabSize;
        if (sessions.Length == 0 || sessions.Length > _segments.Length || counts.Length != sessions.Length)
        {
            throw new ArgumentException($"give 1 to {_segments.Length} sessions and one count per session", nameof(sessions));
        }

        if (tokens.Length > MaxTokens)
        {
            throw new ArgumentException($"{tokens.Length} tokens exceed the batch's {MaxTokens}", nameof(tokens));
        }

        if (logits.Length < (long)sessions.Length * vocab)
        {
            throw new ArgumentException($"logits must hold {sessions.Length}×{vocab} floats", nameof(logits));
        }

        int offset = 0;
        for (int i = 0; i < sessions.Length; i++)
        {
            InferenceSession session = sessions[i];
            if (session.Model != _model)
            {
                throw new ArgumentException("every session must run this batch's model", nameof(sessions));
            }

            if (counts[i] < 1 || offset + counts[i] > tokens.Length)
            {
                throw new ArgumentException("each session needs at least one token, and the counts must add up to the tokens given", nameof(counts));
            }

            if (_model.Spec.PaddedQueriesAttendAll && session.Position < session.KeyStart)
            {
                throw new ArgumentException("a left-padded session must run its padded prompt through InferenceSession.Forward", nameof(sessions));
            }

            for (int j = 0; j < i; j++)
            {
                if (sessions[j] == session)
                {
                    throw new ArgumentException("a session appears twice in one step", nameof(sessions));
                }
            }

            session.CheckTokens(tokens.Slice(offset, counts[i]));
            _segments[i] = new ForwardPass.Segment(session, offset, counts[i]);
            offset += counts[i];
        }

        if (offset != tokens.Length)
        {
            throw new ArgumentException("the counts must add up to the tokens given", nameof(counts));
        }

        try
        {
            _pass.Run(_segments.AsSpan(0, sessions.Length), tokens, logits, allRows: false, observer: null);
        }
        finally
        {
            Array.Clear(_segments);
        }
    }
}
