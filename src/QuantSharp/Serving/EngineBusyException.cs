namespace QuantSharp.Serving;

/// <summary>The <see cref="GenerationEngine"/>'s queue is full (or it is shutting down): try again later.</summary>
public sealed class EngineBusyException : QuantSharpException
{
    /// <summary>Creates the exception.</summary>
    public EngineBusyException(string message, bool shuttingDown = false)
        : base(message)
    {
        ShuttingDown = shuttingDown;
    }

    /// <summary>The engine is stopping for good (a server answers 503), rather than full for now (429).</summary>
    public bool ShuttingDown { get; }
}
