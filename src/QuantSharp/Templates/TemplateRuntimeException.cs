namespace QuantSharp.Templates;

/// <summary>
/// An error while rendering, before the renderer adds where it happened; <see cref="ChatTemplate.Render"/> turns it
/// into a <see cref="ChatTemplateException"/> that starts with <c>origin:line:col</c>.
/// </summary>
internal sealed class TemplateRuntimeException : Exception
{
    public TemplateRuntimeException(string message)
        : base(message)
    {
    }

    public TemplateRuntimeException()
    {
    }

    public TemplateRuntimeException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>True for <c>raise_exception(message)</c>: the message is the template's own, shown without location.</summary>
    public bool RaisedByTemplate { get; init; }

    /// <summary>1-based line of the innermost expression or statement that failed; 0 until the renderer sets it.</summary>
    public int Line { get; set; }

    /// <summary>1-based column matching <see cref="Line"/>.</summary>
    public int Column { get; set; }
}
