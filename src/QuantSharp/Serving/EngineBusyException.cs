namespace QuantSharp.Serving;

/// <summary>The <see cref="GenerationEngine"/>'s queue is full (or it is shutting down): try again later.</summary>
public sealed class EngineBusyException : QuantSharpException
{
    /// <summary>Creates the exception.</summary>
    public EngineBusyException(string message)
        : base(message)
    {
    }
}
