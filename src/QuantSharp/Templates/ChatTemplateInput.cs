using System.Text.Json.Nodes;

namespace QuantSharp.Templates;

/// <summary>
/// The variables a chat template renders with, as Hugging Face's <c>apply_chat_template</c> passes them:
/// <c>messages</c>, <c>tools</c>, <c>documents</c> (always none), <c>add_generation_prompt</c>, the special tokens,
/// and any extra variables (e.g. <c>enable_thinking</c>).
/// </summary>
public sealed class ChatTemplateInput
{
    /// <summary>The conversation: each element a JSON object with <c>role</c>, <c>content</c> and maybe <c>tool_calls</c> etc.</summary>
    public required JsonArray Messages { get; init; }

    /// <summary>Tool (function) definitions; null renders as the template's <c>none</c>, as when no tools are given.</summary>
    public JsonArray? Tools { get; init; }

    /// <summary>Whether to end with the header that starts the assistant's reply.</summary>
    public bool AddGenerationPrompt { get; init; }

    /// <summary>The <c>bos_token</c> variable; when null the variable is undefined (renders empty), as in transformers.</summary>
    public string? BosToken { get; init; }

    /// <summary>The <c>eos_token</c> variable; when null the variable is undefined (renders empty), as in transformers.</summary>
    public string? EosToken { get; init; }

    /// <summary>The moment <c>strftime_now(format)</c> formats.</summary>
    public DateTime Now { get; init; } = DateTime.Now;

    /// <summary>
    /// Extra variables (e.g. <c>enable_thinking</c>, <c>date_string</c>); the named properties above take precedence
    /// over an entry of the same name.
    /// </summary>
    public IReadOnlyDictionary<string, JsonNode?>? Variables { get; init; }

    /// <summary>Builds <see cref="Messages"/> from (role, content) pairs.</summary>
    /// <returns>A JSON array of <c>{"role": …, "content": …}</c> objects, in order.</returns>
    public static JsonArray MessagesFrom(IEnumerable<(string Role, string Content)> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var array = new JsonArray();
        foreach ((string role, string content) in messages)
        {
            array.Add(new JsonObject { ["role"] = role, ["content"] = content });
        }

        return array;
    }
}
