namespace QuantSharp.Serving;

/// <summary>A prompt that leaves no room for a reply in the context window.</summary>
public sealed class ContextOverflowException : QuantSharpException
{
    /// <summary>Creates the exception for a prompt of <paramref name="promptTokens"/> in a context of <paramref name="contextLength"/>.</summary>
    public ContextOverflowException(int promptTokens, int contextLength)
        : base($"the prompt has {promptTokens} tokens; the context window holds {contextLength}, so at most {contextLength - 1} prompt tokens leave room for a reply")
    {
        PromptTokens = promptTokens;
        ContextLength = contextLength;
    }

    /// <summary>Tokens in the prompt.</summary>
    public int PromptTokens { get; }

    /// <summary>Positions in the context window.</summary>
    public int ContextLength { get; }
}
