using System.Threading.Channels;

namespace QuantSharp.Serving;

/// <summary>
/// One request running in a <see cref="GenerationEngine"/>: its generated token ids arrive in <see cref="Tokens"/> as
/// the engine produces them; once the channel completes, <see cref="Finish"/> says why.
/// </summary>
public sealed class GenerationStream
{
    private readonly Channel<int> _tokens = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private int _finish;

    internal GenerationStream(int[] prompt, Models.SamplingOptions options, CancellationToken cancellation)
    {
        Prompt = prompt;
        Options = options;
        Cancellation = cancellation;
    }

    /// <summary>Generated token ids (stop tokens excluded), completed when generation ends.</summary>
    public ChannelReader<int> Tokens => _tokens.Reader;

    /// <summary>Prompt tokens.</summary>
    public int PromptTokens => Prompt.Length;

    /// <summary>Tokens generated so far.</summary>
    public int GeneratedTokens => Volatile.Read(ref GeneratedField);

    /// <summary>Why generation ended (<see cref="GenerationFinish.None"/> while it runs).</summary>
    public GenerationFinish Finish => (GenerationFinish)Volatile.Read(ref _finish);

    /// <summary>The failure when <see cref="Finish"/> is <see cref="GenerationFinish.Error"/>.</summary>
    public Exception? Error { get; private set; }

    internal int[] Prompt { get; }

    internal Models.SamplingOptions Options { get; }

    internal CancellationToken Cancellation { get; }

    internal int GeneratedField;

    internal void Write(int token)
    {
        Interlocked.Increment(ref GeneratedField);
        _tokens.Writer.TryWrite(token);
    }

    /// <summary>Called on the engine's thread the moment the stream ends, before its channel completes: lets tests see
    /// the engine's order of events (what another request had done when this one ended) without timing.</summary>
    internal Action<GenerationStream>? Ended { get; set; }

    internal void Complete(GenerationFinish finish, Exception? error = null)
    {
        Error = error;
        Volatile.Write(ref _finish, (int)finish);
        Ended?.Invoke(this);
        _tokens.Writer.TryComplete();
    }
}
