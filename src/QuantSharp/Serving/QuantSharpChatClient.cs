using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using QuantSharp.Models;
using QuantSharp.Tokenizers;

namespace QuantSharp.Serving;

/// <summary>
/// <see cref="IChatClient"/> over a model running in this process (no server): messages go through the checkpoint's
/// chat template, replies come from a <see cref="GenerationEngine"/> (so concurrent calls are decoded together).
/// <see cref="ChatOptions"/> maps as follows: <c>MaxOutputTokens</c>, <c>Temperature</c> (default 1), <c>TopP</c>,
/// <c>TopK</c>, <c>Seed</c>, <c>StopSequences</c> and <c>Instructions</c> (a leading system message); tools and response
/// formats are not supported and are ignored.
/// </summary>
public sealed class QuantSharpChatClient : IChatClient
{
    private readonly GenerationEngine _engine;
    private readonly bool _ownsEngine;
    private readonly Tokenizer _tokenizer;
    private readonly ChatFormatter _formatter;
    private readonly ChatClientMetadata _metadata;

    /// <summary>A client that starts its own engine over <paramref name="loaded"/> (the caller keeps owning the model).</summary>
    /// <param name="loaded">A decoder checkpoint with a tokenizer and a chat template (or ChatGLM3's role format).</param>
    /// <param name="options">Engine options (parallel sequences, context).</param>
    /// <param name="chatTemplate">Jinja source to use instead of the checkpoint's template.</param>
    /// <exception cref="QuantSharpException">No tokenizer, no chat template, or an encoder model.</exception>
    public QuantSharpChatClient(LoadedModel loaded, GenerationEngineOptions? options = null, string? chatTemplate = null)
        : this(new GenerationEngine(Check(loaded).Model, options), loaded.RequireTokenizer(), ModelId(loaded), chatTemplate, ownsEngine: true)
    {
    }

    /// <summary>A client over an existing engine (shared with other clients or a server; not disposed by this client).</summary>
    public QuantSharpChatClient(GenerationEngine engine, Tokenizer tokenizer, string modelId, string? chatTemplate = null)
        : this(engine, tokenizer, modelId, chatTemplate, ownsEngine: false)
    {
    }

    private QuantSharpChatClient(GenerationEngine engine, Tokenizer tokenizer, string modelId, string? chatTemplate, bool ownsEngine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(tokenizer);
        _engine = engine;
        _ownsEngine = ownsEngine;
        _tokenizer = tokenizer;
        try
        {
            _formatter = ChatFormatter.For(tokenizer, chatTemplate);
        }
        catch
        {
            if (ownsEngine)
            {
                engine.Dispose();
            }

            throw;
        }

        _metadata = new ChatClientMetadata("QuantSharp", null, modelId);
    }

    /// <summary>The name a checkpoint folder is served under: its folder name.</summary>
    public static string ModelId(LoadedModel loaded)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        return Path.GetFileName(Path.TrimEndingDirectorySeparator(loaded.Path));
    }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        TextGeneration generation = Prepare(messages, options);
        string text = await generation.CompleteAsync(cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text))
        {
            ModelId = _metadata.DefaultModelId,
            ResponseId = NewId(),
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Reason(generation.Finish),
            Usage = Usage(generation),
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        TextGeneration generation = Prepare(messages, options);
        string id = NewId();
        DateTimeOffset created = DateTimeOffset.UtcNow;
        await foreach (string piece in generation.StreamAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, piece) { ResponseId = id, MessageId = id, CreatedAt = created, ModelId = _metadata.DefaultModelId };
        }

        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(Usage(generation))])
        {
            ResponseId = id,
            MessageId = id,
            CreatedAt = created,
            ModelId = _metadata.DefaultModelId,
            FinishReason = Reason(generation.Finish),
        };
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(ChatClientMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : serviceType.IsInstanceOfType(_engine) ? _engine
            : null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsEngine)
        {
            _engine.Dispose();
        }
    }

    private TextGeneration Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new JsonArray();
        if (options?.Instructions is { Length: > 0 } instructions)
        {
            turns.Add(new JsonObject { ["role"] = "system", ["content"] = instructions });
        }

        foreach (ChatMessage message in messages)
        {
            turns.Add(new JsonObject { ["role"] = message.Role.Value, ["content"] = message.Text });
        }

        int[] prompt = ChatRequest.Prompt(_formatter, _engine, turns);
        SamplingOptions sampling = ChatRequest.Sampling(_engine, _tokenizer, prompt.Length, options?.MaxOutputTokens, options?.Temperature, options?.TopP, options?.TopK, options?.Seed);
        return new TextGeneration(_engine, _tokenizer, prompt, sampling, options?.StopSequences?.ToArray());
    }

    /// <summary>Checks what can fail before the engine (and its thread) is created.</summary>
    private static LoadedModel Check(LoadedModel loaded)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        loaded.RequireTokenizer();
        return loaded;
    }

    private static UsageDetails Usage(TextGeneration g) => new()
    {
        InputTokenCount = g.PromptTokens,
        OutputTokenCount = g.CompletionTokens,
        TotalTokenCount = g.PromptTokens + g.CompletionTokens,
    };

    private static ChatFinishReason? Reason(GenerationFinish finish) => finish switch
    {
        GenerationFinish.Stop => ChatFinishReason.Stop,
        GenerationFinish.Length => ChatFinishReason.Length,
        _ => null,
    };

    private static string NewId() => "chatcmpl-" + Guid.NewGuid().ToString("N");
}
