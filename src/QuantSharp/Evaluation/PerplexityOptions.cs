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

    /// <summary>Called after each window with (windows done, windows total).</summary>
    public Action<int, int>? Progress { get; init; }
}
