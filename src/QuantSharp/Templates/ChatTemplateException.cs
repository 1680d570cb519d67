namespace QuantSharp.Templates;

/// <summary>
/// A chat template that cannot be parsed or rendered: a syntax error (<c>origin:line:col: problem</c>), a runtime
/// error such as an unknown filter or a type mismatch, a safety limit reached (output size, loop iterations, macro
/// depth, nesting), or the template itself refusing the conversation through <c>raise_exception(message)</c>.
/// </summary>
public sealed class ChatTemplateException : QuantSharpException
{
    /// <summary>Creates the exception with a message that says where and what went wrong.</summary>
    public ChatTemplateException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception wrapping its cause.</summary>
    public ChatTemplateException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ChatTemplateException()
    {
    }

    internal ChatTemplateException(string message, bool raisedByTemplate)
        : base(message)
    {
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>
    /// True when the template called <c>raise_exception(message)</c>: the template refuses this conversation (for
    /// example a system message for a model without a system role) and <see cref="Exception.Message"/> is exactly
    /// the template's message, without location.
    /// </summary>
    public bool RaisedByTemplate { get; }
}
