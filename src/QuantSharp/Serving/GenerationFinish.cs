namespace QuantSharp.Serving;

/// <summary>Why a sequence stopped generating.</summary>
public enum GenerationFinish
{
    /// <summary>Still generating.</summary>
    None,

    /// <summary>An end-of-sequence or stop token (not returned), or the caller stopped it at a stop string.</summary>
    Stop,

    /// <summary>The token limit or the context window was reached.</summary>
    Length,

    /// <summary>The caller's cancellation token fired (a client went away) or the engine shut down.</summary>
    Cancelled,

    /// <summary>The forward pass failed; see <see cref="GenerationStream.Error"/>.</summary>
    Error,
}
