namespace QuantSharp.Evaluation;

/// <summary>Outcome of a perplexity run.</summary>
/// <param name="Perplexity">exp(mean negative log-likelihood) over the scored tokens.</param>
/// <param name="MeanNll">Mean negative log-likelihood in nats.</param>
/// <param name="FileTokens">Tokens in the whole text.</param>
/// <param name="Windows">Windows evaluated.</param>
/// <param name="ScoredTokens">Tokens whose likelihood was counted.</param>
/// <param name="Context">Window length used (BOS included).</param>
/// <param name="Seconds">Wall time of the forward passes.</param>
public sealed record PerplexityResult(double Perplexity, double MeanNll, int FileTokens, int Windows, long ScoredTokens, int Context, double Seconds)
{
    /// <summary>Tokens processed per second (every window token, BOS included).</summary>
    public double TokensPerSecond => Seconds > 0 ? Windows * (double)Context / Seconds : 0;
}
