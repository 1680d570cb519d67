using System.Text.Json.Nodes;
using QuantSharp.Models;
using QuantSharp.Tokenizers;

namespace QuantSharp.Serving;

/// <summary>
/// A chat request turned into what the engine runs: the conversation rendered with the chat template into prompt ids,
/// and the reply's token budget (the request's limit, else the rest of the context). Shared by the OpenAI server and
/// <see cref="QuantSharpChatClient"/>.
/// </summary>
public static class ChatRequest
{
    /// <summary>Prompt ids for <paramref name="messages"/> (objects with <c>role</c> and <c>content</c>).</summary>
    /// <exception cref="QuantSharpException">The prompt leaves no room for a reply in the engine's context.</exception>
    public static int[] Prompt(ChatFormatter formatter, GenerationEngine engine, JsonArray messages)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        ArgumentNullException.ThrowIfNull(engine);
        int[] ids = formatter.Format(messages).Ids;
        CheckFits(engine, ids.Length);
        return ids;
    }

    /// <summary>Throws unless a prompt of <paramref name="promptTokens"/> leaves room for at least one generated token.</summary>
    /// <exception cref="QuantSharpException">It does not.</exception>
    public static void CheckFits(GenerationEngine engine, int promptTokens)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (promptTokens >= engine.ContextLength)
        {
            throw new ContextOverflowException(promptTokens, engine.ContextLength);
        }
    }

    /// <summary>Sampling for a request: <paramref name="maxTokens"/> capped by (or, when null, equal to) the context left
    /// after the prompt; temperature and top-p as OpenAI defaults them (1, 1); a random seed unless one is given.</summary>
    public static SamplingOptions Sampling(GenerationEngine engine, Tokenizer tokenizer, int promptTokens, int? maxTokens, float? temperature, float? topP, int? topK, long? seed)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(tokenizer);
        int room = engine.ContextLength - promptTokens;
        return new SamplingOptions
        {
            MaxTokens = Math.Min(maxTokens ?? room, room),
            Temperature = temperature ?? 1f,
            TopP = topP ?? 1f,
            TopK = topK ?? 0,
            Seed = seed is long s ? unchecked((int)s ^ (int)(s >> 32)) : Random.Shared.Next(),
            StopTokens = tokenizer.EosIds,
        };
    }
}
