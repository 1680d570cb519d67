using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Templates;

namespace QuantSharp.Tokenizers;

/// <summary>A conversation rendered for the model: the prompt text (for display) and the ids to feed.</summary>
/// <param name="Text">The rendered prompt, special tokens included as text.</param>
/// <param name="Ids">The prompt's token ids.</param>
public sealed record ChatPrompt(string Text, int[] Ids);

/// <summary>
/// Turns a conversation into a prompt with the checkpoint's chat template (the Jinja <c>chat_template</c> of
/// tokenizer_config.json / GGUF, or ChatGLM3's built-in role format), as transformers' <c>apply_chat_template</c>
/// followed by tokenization does. Special-token text inside messages (keys and values) stays text: it is swapped for
/// private-use placeholders before rendering and restored only inside plain-text segments, so a user cannot end a turn
/// or impersonate a role by typing <c>&lt;|im_end|&gt;</c>. Added tokens the vocabulary marks non-special (Qwen's
/// <c>&lt;tool_call&gt;</c>) are matched in messages as transformers matches them.
/// </summary>
public sealed class ChatFormatter
{
    private const int PlaceholderBase = 0xF0000;
    private readonly Tokenizer _tokenizer;
    private readonly ChatTemplate? _template;

    private ChatFormatter(Tokenizer tokenizer, ChatTemplate? template)
    {
        _tokenizer = tokenizer;
        _template = template;
    }

    /// <summary>The formatter for <paramref name="tokenizer"/>, with <paramref name="templateOverride"/> (Jinja source) if given.</summary>
    /// <exception cref="QuantSharpException">The checkpoint has no chat template (and is not ChatGLM3), or the template does not parse.</exception>
    public static ChatFormatter For(Tokenizer tokenizer, string? templateOverride = null, string? origin = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        string? source = templateOverride ?? tokenizer.ChatTemplate;
        if (source is not null)
        {
            return new ChatFormatter(tokenizer, ChatTemplate.Parse(source, origin ?? "chat_template"));
        }

        return tokenizer.HasChatGlm3Format ? new ChatFormatter(tokenizer, null)
            : throw new QuantSharpException("the tokenizer has no chat template (tokenizer_config.json 'chat_template', chat_template.jinja or GGUF 'tokenizer.chat_template'); give one with --template FILE");
    }

    /// <summary>Formats (role, content) turns.</summary>
    public ChatPrompt Format(IEnumerable<(string Role, string Content)> messages, bool addGenerationPrompt = true)
        => Format(ChatTemplateInput.MessagesFrom(messages), addGenerationPrompt);

    /// <summary>Formats messages given as JSON objects (<c>role</c>, <c>content</c>, maybe <c>tool_calls</c>), with optional tools.</summary>
    /// <exception cref="ChatTemplateException">The template refuses the conversation (<c>raise_exception</c>) or exceeds its bounds.</exception>
    public ChatPrompt Format(JsonArray messages, bool addGenerationPrompt = true, JsonArray? tools = null, DateTime? now = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (_template is null)
        {
            return FormatChatGlm3(messages, addGenerationPrompt, tools);
        }

        var placeholders = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonArray guarded = (JsonArray)Guard(messages, placeholders)!;
        string rendered = _template.Render(new ChatTemplateInput
        {
            Messages = guarded,
            Tools = tools is null ? null : (JsonArray)Guard(tools, placeholders)!,
            AddGenerationPrompt = addGenerationPrompt,
            BosToken = _tokenizer.BosToken,
            EosToken = _tokenizer.EosToken,
            Now = now ?? DateTime.Now,
        });
        string Restore(string s)
        {
            if (placeholders.Count == 0)
            {
                return s;
            }

            foreach ((string placeholder, string original) in placeholders)
            {
                // Also the forms a placeholder takes inside Python repr ('\U000f0000') and ASCII-escaped JSON ('\udb80\udc00').
                int cp = char.ConvertToUtf32(placeholder, 0);
                s = s.Replace(placeholder, original, StringComparison.Ordinal)
                    .Replace($"\\U{cp:x8}", original, StringComparison.Ordinal)
                    .Replace($"\\u{(int)placeholder[0]:x4}\\u{(int)placeholder[1]:x4}", original, StringComparison.Ordinal);
            }

            return s;
        }

        return new ChatPrompt(Restore(rendered), _tokenizer.EncodeRendered(rendered, Restore));
    }

    /// <summary>A deep copy of <paramref name="node"/> whose strings have every special token replaced by its placeholder.</summary>
    private JsonNode? Guard(JsonNode? node, Dictionary<string, string> placeholders)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonArray array:
                var copy = new JsonArray();
                foreach (JsonNode? item in array)
                {
                    copy.Add(Guard(item, placeholders));
                }

                return copy;
            case JsonObject obj:
                var o = new JsonObject();
                foreach ((string key, JsonNode? value) in obj)
                {
                    // Keys too: templates print them (tools | tojson, arguments.items()).
                    o[Guard(key, placeholders)] = Guard(value, placeholders);
                }

                return o;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                return JsonValue.Create(Guard(value.GetValue<string>(), placeholders));
            default:
                return node.DeepClone();
        }
    }

    private string Guard(string text, Dictionary<string, string> placeholders)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.ConvertToUtf32(text[i], text[i + 1]) is >= PlaceholderBase and < PlaceholderBase + 0xFFFE)
            {
                throw new QuantSharpException($"message text contains the private-use character U+{char.ConvertToUtf32(text[i], text[i + 1]):X}, which the chat formatter reserves");
            }
        }

        foreach (AddedToken t in _tokenizer.AddedTokens)
        {
            if (!t.Special || !text.Contains(t.Content, StringComparison.Ordinal))
            {
                continue;
            }

            string? placeholder = placeholders.FirstOrDefault(p => p.Value == t.Content).Key;
            if (placeholder is null)
            {
                placeholder = char.ConvertFromUtf32(PlaceholderBase + placeholders.Count);
                placeholders[placeholder] = t.Content;
            }

            text = text.Replace(t.Content, placeholder, StringComparison.Ordinal);
        }

        return text;
    }

    /// <summary>ChatGLM3's <c>build_chat_input</c>: per turn <c>&lt;|role|&gt;</c>, then encode(metadata + "\n") and encode(content)
    /// (each with SentencePiece's dummy prefix), after the <c>[gMASK] sop</c> prefix; a system turn with tools appends them as JSON.</summary>
    private ChatPrompt FormatChatGlm3(JsonArray messages, bool addGenerationPrompt, JsonArray? tools)
    {
        var ids = new List<int>(_tokenizer.Prefix);
        var text = new StringBuilder();
        foreach (int id in _tokenizer.Prefix)
        {
            text.Append(_tokenizer.TokenToString(id));
        }

        foreach (JsonNode? node in messages)
        {
            if (node is not JsonObject m || m["role"] is not JsonValue roleValue || roleValue.GetValueKind() != JsonValueKind.String)
            {
                throw new QuantSharpException("every message needs a string 'role'");
            }

            string role = roleValue.GetValue<string>();
            if (role is not ("system" or "user" or "assistant" or "observation"))
            {
                throw new QuantSharpException($"ChatGLM3 has no role '{role}' (system, user, assistant, observation)");
            }

            string content = m["content"] is JsonValue c && c.GetValueKind() == JsonValueKind.String ? c.GetValue<string>() : "";
            string metadata = m["metadata"] is JsonValue md && md.GetValueKind() == JsonValueKind.String ? md.GetValue<string>() : "";
            JsonNode? turnTools = role == "system" ? m["tools"] ?? tools : null;
            if (turnTools is not null)
            {
                // json.dumps(tools, indent=4, ensure_ascii=False), as ChatGLM3's tokenizer writes them.
                content += "\n" + TemplateJson.Dumps(TemplateJson.FromNode(turnTools), ensureAscii: false, indent: "    ", itemSeparator: null, keySeparator: null, sortKeys: false);
            }

            AppendTurn(role, metadata, content, ids, text);
        }

        if (addGenerationPrompt)
        {
            int assistant = _tokenizer.TokenToId("<|assistant|>")!.Value;
            ids.Add(assistant);
            text.Append("<|assistant|>");
        }

        return new ChatPrompt(text.ToString(), ids.ToArray());
    }

    private void AppendTurn(string role, string metadata, string content, List<int> ids, StringBuilder text)
    {
        string roleToken = $"<|{role}|>";
        ids.Add(_tokenizer.TokenToId(roleToken)!.Value);
        ids.AddRange(_tokenizer.Encode(metadata + "\n"));
        ids.AddRange(_tokenizer.Encode(content));
        text.Append(roleToken).Append(metadata).Append('\n').Append(content);
    }
}
