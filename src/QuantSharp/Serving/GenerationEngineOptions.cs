namespace QuantSharp.Serving;

/// <summary>How a <see cref="GenerationEngine"/> shares the model between concurrent requests.</summary>
public sealed record GenerationEngineOptions
{
    /// <summary>Sequences decoded together, each with its own KV cache; every decode step runs all of them through one
    /// forward pass.</summary>
    public int Parallel { get; init; } = 4;

    /// <summary>Positions per sequence (prompt plus reply); 0 = the model's <c>max_position_embeddings</c>, at most 4096.</summary>
    public int ContextLength { get; init; }

    /// <summary>Requests that may wait for a free sequence slot; more are refused with <see cref="EngineBusyException"/>.</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>Prompt tokens prefilled per step, all waiting prompts together, so a long prompt is fed in chunks between
    /// the decode steps of the other sequences instead of stalling them.</summary>
    public int PrefillChunk { get; init; } = 64;
}
