namespace QuantSharp.Evaluation;

/// <summary>How perplexity is measured.</summary>
public sealed class PerplexityOptions
{
    /// <summary>Window length including the BOS (0 = the smaller of 512 and the model's context).</summary>
    public int Context { get; init; }

    /// <summary>Score only the second half of each window (the first half is context), like llama.cpp's perplexity tool.</summary>
    public bool SecondHalf { get; init; }

    /// <summary>Evaluate at most this many windows (0 = all).</summary>
    public int MaxWindows { get; init; }

    /// <summary>How windows are cut and scored.</summary>
    public PerplexityProtocol Protocol { get; init; } = PerplexityProtocol.QuantSharp;

    /// <summary>llama.cpp protocol: whether the vocabulary adds BOS (it then goes in front of the text and replaces the
    /// first token of every chunk).</summary>
    public bool AddBos { get; init; } = true;

    /// <summary>llama.cpp protocol: write every chunk's log-probabilities to this file in <c>llama-perplexity
    /// --kl-divergence-base</c>'s format (written through a temporary sibling).</summary>
    public string? LogitsFile { get; init; }

    /// <summary>Called after each window with (windows done, windows total).</summary>
    public Action<int, int>? Progress { get; init; }
}
