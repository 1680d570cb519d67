using Microsoft.Extensions.AI;
using QuantSharp.Models;

namespace QuantSharp.Serving;

/// <summary>
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a model running in this process: sentence embeddings of an
/// encoder checkpoint (its sentence-transformers pooling and normalization), or for a decoder the mean-pooled hidden
/// state of <see cref="SentenceEncoderOptions.Layer"/> (text-encoder use). Calls on one generator run one at a time.
/// </summary>
public sealed class QuantSharpEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly SentenceEncoder _encoder;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>A generator over <paramref name="loaded"/> (the caller keeps owning the model).</summary>
    /// <exception cref="QuantSharpException">The checkpoint has no tokenizer, or the layer is out of range.</exception>
    public QuantSharpEmbeddingGenerator(LoadedModel loaded, SentenceEncoderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        loaded.RequireTokenizer();
        _encoder = SentenceEncoder.Create(loaded, options);
        _metadata = new EmbeddingGeneratorMetadata("QuantSharp", null, QuantSharpChatClient.ModelId(loaded), _encoder.Dimension);
    }

    /// <summary>Length of each embedding.</summary>
    public int Dimension => _encoder.Dimension;

    /// <summary>Tokens <paramref name="text"/> becomes (truncated to the encoder's maximum).</summary>
    public int CountTokens(string text) => _encoder.Tokenize(text).Length;

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        string[] texts = [.. values];
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            int[][] ids = [.. texts.Select(_encoder.Tokenize)];
            float[][] vectors = await Task.Run(() => _encoder.EmbedIds(ids), cancellationToken).ConfigureAwait(false);
            DateTimeOffset now = DateTimeOffset.UtcNow;
            var result = new GeneratedEmbeddings<Embedding<float>>(vectors.Select(v => new Embedding<float>(v) { ModelId = _metadata.DefaultModelId, CreatedAt = now }))
            {
                Usage = new UsageDetails { InputTokenCount = ids.Sum(i => i.Length), TotalTokenCount = ids.Sum(i => i.Length) },
            };
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // Wait for a running call: it reads the encoder's buffers and the model's weights.
        _gate.Wait();
        _encoder.Dispose();
    }
}
