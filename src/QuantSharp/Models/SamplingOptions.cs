namespace QuantSharp.Models;

/// <summary>How the next token is chosen. Defaults are greedy decoding.</summary>
public sealed class SamplingOptions
{
    /// <summary>Tokens to generate at most.</summary>
    public int MaxTokens { get; init; } = 128;

    /// <summary>0 = greedy (argmax); otherwise logits are divided by it before sampling.</summary>
    public float Temperature { get; init; }

    /// <summary>Keep only the k most likely tokens (0 = off).</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of tokens whose probability reaches p (1 = off).</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Divide positive logits (multiply negative ones) of tokens already seen by this (1 = off), as in CTRL / HF.</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>Random seed for sampling.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Stop when an end-of-sequence token is produced (it is still returned).</summary>
    public bool StopAtEos { get; init; } = true;

    /// <summary>More ids that end generation besides config.json's <c>eos_token_id</c> (the tokenizer's end-of-turn tokens).</summary>
    public IReadOnlyCollection<int> StopTokens { get; set; } = [];
}
