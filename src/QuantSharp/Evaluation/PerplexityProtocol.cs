namespace QuantSharp.Evaluation;

/// <summary>How a text is cut into windows and which tokens are scored.</summary>
public enum PerplexityProtocol
{
    /// <summary>QuantSharp's: spans of ctx − 1 text tokens, each run as [BOS] + span, every span token scored (or the
    /// second half with <see cref="PerplexityOptions.SecondHalf"/>).</summary>
    QuantSharp,

    /// <summary>llama.cpp's <c>llama-perplexity</c>: the text tokenized with BOS in front (when the vocabulary adds one),
    /// cut into chunks of ctx tokens, the first token of each chunk replaced by BOS, and only the tokens after the
    /// first half of each chunk scored (ctx − 1 − ctx/2 per chunk); at least 2·ctx tokens.</summary>
    LlamaCpp,
}
