using QuantSharp.Models;
using QuantSharp.Serving;
using QuantSharp.Tokenizers;

namespace QuantSharp.Server;

/// <summary>What the server runs: the loaded checkpoint, its generation engine and chat formatter (decoders), and its
/// embedding generator (created on the first embeddings request).</summary>
internal sealed class ServedModel : IDisposable
{
    private readonly Lazy<QuantSharpEmbeddingGenerator> _embeddings;

    public ServedModel(LoadedModel loaded, ServerOptions options)
    {
        Loaded = loaded;
        Id = QuantSharpChatClient.ModelId(loaded);
        Tokenizer = loaded.Tokenizer;
        if (!loaded.Model.Spec.IsEncoder)
        {
            if (Tokenizer is not null && (options.ChatTemplate is not null || Tokenizer.ChatTemplate is not null || Tokenizer.HasChatGlm3Format))
            {
                Formatter = ChatFormatter.For(Tokenizer, options.ChatTemplate, "--template");
            }

            // Last: the engine starts a thread, and nothing after it may throw.
            Engine = new GenerationEngine(loaded.Model, new GenerationEngineOptions { Parallel = options.Parallel, ContextLength = options.ContextLength, QueueCapacity = options.QueueCapacity });
        }

        int layer = loaded.Model.Spec.IsEncoder ? -1 : options.EmbeddingLayer;
        _embeddings = new Lazy<QuantSharpEmbeddingGenerator>(() => new QuantSharpEmbeddingGenerator(loaded, new SentenceEncoderOptions { Layer = layer }));
    }

    public LoadedModel Loaded { get; }

    public string Id { get; }

    public Tokenizer? Tokenizer { get; }

    public GenerationEngine? Engine { get; }

    public ChatFormatter? Formatter { get; }

    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;

    public QuantSharpEmbeddingGenerator Embeddings => _embeddings.Value;

    public GenerationEngine RequireEngine() => Engine
        ?? throw ApiException.BadRequest($"{Id} is an encoder: it serves /v1/embeddings only");

    public Tokenizer RequireTokenizer() => Tokenizer
        ?? throw ApiException.BadRequest($"{Id} has no tokenizer (tokenizer.json, tokenizer.model, vocab files); the server needs one to read prompts and write replies");

    public void Dispose()
    {
        Engine?.Dispose();
        if (_embeddings.IsValueCreated)
        {
            _embeddings.Value.Dispose();
        }
    }
}
