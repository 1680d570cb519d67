namespace QuantSharp.Server;

/// <summary>Options of <see cref="OpenAiServer"/>.</summary>
public sealed record ServerOptions
{
    /// <summary>Address to listen on (an IP address; 127.0.0.1 by default, so only this machine can connect).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (see <see cref="OpenAiServer.Address"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>When set, every <c>/v1/</c> request must carry <c>Authorization: Bearer</c> this key.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Sequences decoded together (one KV cache each).</summary>
    public int Parallel { get; init; } = 4;

    /// <summary>Context window per sequence; 0 = the model's, at most 4096.</summary>
    public int ContextLength { get; init; }

    /// <summary>Requests that may wait for a sequence slot; beyond that the server answers 429.</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>Largest request body accepted (413 beyond).</summary>
    public long MaxBodyBytes { get; init; } = 4 << 20;

    /// <summary>Jinja chat template source to use instead of the checkpoint's.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Hidden state pooled for <c>/v1/embeddings</c> on a decoder (-1 = last, normed); encoders use their own pooling.</summary>
    public int EmbeddingLayer { get; init; } = -1;

    /// <summary>How long a shutdown (SIGTERM, Ctrl-C) lets in-flight requests finish before cancelling them.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where the one-line-per-request log goes (null: nowhere).</summary>
    public TextWriter? Log { get; init; } = Console.Error;
}
