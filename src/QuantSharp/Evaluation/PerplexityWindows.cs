namespace QuantSharp.Evaluation;

/// <summary>
/// The windows a text is cut into and the positions scored in each, for either <see cref="PerplexityProtocol"/>:
/// QuantSharp's ([BOS] + ctx − 1 text tokens per window, every token or the second half scored) or llama.cpp's
/// (BOS in front of the text, chunks of ctx tokens with BOS as first token, the second half scored). Logits row p of
/// a window predicts <see cref="Target"/>(w, p), for p in <see cref="FirstScored"/> … ctx − 2.
/// </summary>
internal sealed class PerplexityWindows
{
    private readonly int[] _stream;
    private readonly int _bos;
    private readonly bool _llama;
    private readonly bool _replaceFirst;

    private PerplexityWindows(int[] stream, int bos, int context, int count, int firstScored, bool llama, bool replaceFirst)
    {
        (_stream, _bos, Context, Count, FirstScored, _llama, _replaceFirst) = (stream, bos, context, count, firstScored, llama, replaceFirst);
    }

    /// <summary>Tokens per window, BOS included.</summary>
    public int Context { get; }

    /// <summary>Windows to run.</summary>
    public int Count { get; }

    /// <summary>First scored logits row of every window.</summary>
    public int FirstScored { get; }

    /// <summary>Tokens of the whole stream (the text, with llama.cpp's leading BOS).</summary>
    public int StreamTokens => _stream.Length;

    /// <summary>Scored positions per window.</summary>
    public int ScoredPerWindow => Context - 1 - FirstScored;

    /// <summary>The windows of <paramref name="text"/> (tokenized without BOS) under <paramref name="options"/>, at
    /// most <paramref name="maxContext"/> tokens long.</summary>
    /// <exception cref="QuantSharpException">A context out of range, or a text too short for one window (llama.cpp: two chunks).</exception>
    public static PerplexityWindows Create(IReadOnlyList<int> text, int bosId, int maxContext, PerplexityOptions options)
    {
        int ctx = options.Context > 0 ? options.Context : Math.Min(512, maxContext);
        if (ctx > maxContext)
        {
            throw new QuantSharpException($"--ctx {ctx} is longer than the model's context of {maxContext}");
        }

        if (options.Protocol == PerplexityProtocol.LlamaCpp)
        {
            if (ctx < 4)
            {
                throw new QuantSharpException($"--ctx {ctx} is too short for the llama.cpp protocol (at least 4)");
            }

            int[] tokens = options.AddBos ? [bosId, .. text] : [.. text];
            if (tokens.Length < 2 * ctx)
            {
                throw new QuantSharpException($"the text tokenizes to {tokens.Length} tokens; the llama.cpp protocol needs at least 2 × ctx = {2 * ctx}");
            }

            return new PerplexityWindows(tokens, bosId, ctx, Limit(tokens.Length / ctx, options), ctx / 2, llama: true, options.AddBos);
        }

        if (ctx < 2)
        {
            throw new QuantSharpException($"--ctx {ctx} is too short: a window needs a BOS and at least one text token");
        }

        int windows = Limit(text.Count / (ctx - 1), options);
        if (windows == 0)
        {
            throw new QuantSharpException($"the text has {text.Count} tokens, fewer than one window of {ctx - 1}; use a smaller --ctx");
        }

        return new PerplexityWindows([.. text], bosId, ctx, windows, options.SecondHalf ? ctx / 2 : 0, llama: false, replaceFirst: true);
    }

    /// <summary>Writes window <paramref name="w"/>'s input tokens into <paramref name="window"/> (<see cref="Context"/> long).</summary>
    public void Fill(int w, Span<int> window)
    {
        if (_llama)
        {
            _stream.AsSpan(w * Context, Context).CopyTo(window);
        }
        else
        {
            _stream.AsSpan(w * (Context - 1), Context - 1).CopyTo(window[1..]);
        }

        if (_replaceFirst)
        {
            window[0] = _bos;
        }
    }

    /// <summary>The token logits row <paramref name="p"/> of window <paramref name="w"/> is scored against (the
    /// text's own next token; a chunk's first token is BOS only as input).</summary>
    public int Target(int w, int p) => _llama ? _stream[(w * Context) + p + 1] : _stream[(w * (Context - 1)) + p];

    /// <summary>The whole stream (llama.cpp's logits file stores it).</summary>
    public ReadOnlySpan<int> Stream => _stream;

    private static int Limit(int windows, PerplexityOptions options) => options.MaxWindows > 0 ? Math.Min(windows, options.MaxWindows) : windows;
}
