namespace QuantSharp;

/// <summary>
/// Bad input that the user can fix: a malformed file, an unsupported architecture, a missing tensor, a shape that
/// does not fit. The message says which file or tensor and what is wrong; the CLI prints it as one line (exit 2).
/// </summary>
public class QuantSharpException : Exception
{
    /// <summary>Creates the exception with a message that names the file or tensor and the problem.</summary>
    public QuantSharpException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception wrapping its cause.</summary>
    public QuantSharpException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public QuantSharpException()
    {
    }
}
