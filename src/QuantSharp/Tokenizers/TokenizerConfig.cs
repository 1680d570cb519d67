using System.Globalization;
using System.Text.Json;

namespace QuantSharp.Tokenizers;

/// <summary>
/// What <c>tokenizer_config.json</c> (and its companions <c>special_tokens_map.json</c>, <c>chat_template.jinja</c>,
/// <c>generation_config.json</c>, <c>config.json</c>) say about a tokenizer: added tokens, the BOS/EOS/PAD/UNK token
/// texts, whether BOS/EOS are added, padding side, the chat template and every end-of-generation id.
/// </summary>
internal sealed class TokenizerConfig
{
    public string? TokenizerClass { get; init; }

    public List<AddedToken> AddedTokens { get; } = [];

    public string? BosToken { get; set; }

    public string? EosToken { get; set; }

    public string? PadToken { get; set; }

    public string? UnkToken { get; set; }

    public bool? AddBosToken { get; init; }

    public bool? AddEosToken { get; init; }

    public bool? DoLowerCase { get; init; }

    public PaddingSide? PaddingSide { get; init; }

    public string? ChatTemplate { get; set; }

    /// <summary>End-of-generation ids from generation_config.json and config.json (<c>eos_token_id</c>, int or list).</summary>
    public List<int> EosIds { get; } = [];

    /// <summary>Reads the files of <paramref name="folder"/>; every file is optional.</summary>
    /// <exception cref="QuantSharpException">A file that exists but is not valid JSON or has fields of the wrong type.</exception>
    public static TokenizerConfig Load(string folder)
    {
        string path = Path.Combine(folder, "tokenizer_config.json");
        TokenizerConfig config = File.Exists(path) ? Parse(File.ReadAllText(path), path) : new TokenizerConfig();
        string map = Path.Combine(folder, "special_tokens_map.json");
        if (File.Exists(map))
        {
            WithJson(map, root =>
            {
                config.BosToken ??= TokenText(root, "bos_token", map);
                config.EosToken ??= TokenText(root, "eos_token", map);
                config.PadToken ??= TokenText(root, "pad_token", map);
                config.UnkToken ??= TokenText(root, "unk_token", map);
            });
        }

        string jinja = Path.Combine(folder, "chat_template.jinja");
        if (File.Exists(jinja))
        {
            config.ChatTemplate = File.ReadAllText(jinja);
        }

        foreach (string name in new[] { "generation_config.json", "config.json" })
        {
            string file = Path.Combine(folder, name);
            if (File.Exists(file))
            {
                WithJson(file, root =>
                {
                    if (root.TryGetProperty("eos_token_id", out JsonElement eos))
                    {
                        foreach (int id in Ids(eos))
                        {
                            if (!config.EosIds.Contains(id))
                            {
                                config.EosIds.Add(id);
                            }
                        }
                    }
                });
            }
        }

        return config;
    }

    /// <summary>Parses tokenizer_config.json text; <paramref name="source"/> names it in errors.</summary>
    public static TokenizerConfig Parse(string json, string source)
    {
        TokenizerConfig? config = null;
        WithJson(source, json, root =>
        {
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new QuantSharpException($"{source}: not a JSON object");
            }

            config = new TokenizerConfig
            {
                TokenizerClass = root.TryGetProperty("tokenizer_class", out JsonElement c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null,
                AddBosToken = Bool(root, "add_bos_token", source),
                AddEosToken = Bool(root, "add_eos_token", source),
                DoLowerCase = Bool(root, "do_lower_case", source),
                PaddingSide = root.TryGetProperty("padding_side", out JsonElement side) && side.ValueKind == JsonValueKind.String
                    ? side.GetString() switch
                    {
                        "left" => Tokenizers.PaddingSide.Left,
                        "right" => Tokenizers.PaddingSide.Right,
                        string other => throw new QuantSharpException($"{source}: padding_side '{other}' is neither 'left' nor 'right'"),
                        null => null,
                    }
                    : null,
                BosToken = TokenText(root, "bos_token", source),
                EosToken = TokenText(root, "eos_token", source),
                PadToken = TokenText(root, "pad_token", source),
                UnkToken = TokenText(root, "unk_token", source),
                ChatTemplate = Template(root, source),
            };
            if (root.TryGetProperty("added_tokens_decoder", out JsonElement added) && added.ValueKind == JsonValueKind.Object)
            {
                foreach (JsonProperty p in added.EnumerateObject())
                {
                    if (!int.TryParse(p.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int id) || p.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw new QuantSharpException($"{source}: added_tokens_decoder entry '{p.Name}' is not an id with a token object");
                    }

                    config.AddedTokens.Add(ReadAddedToken(p.Value, id, source));
                }
            }
        });
        return config!;
    }

    /// <summary>Reads one added-token object (<c>content</c>, <c>special</c>, <c>lstrip</c>, <c>rstrip</c>).</summary>
    public static AddedToken ReadAddedToken(JsonElement e, int id, string source)
    {
        if (!e.TryGetProperty("content", out JsonElement content) || content.ValueKind != JsonValueKind.String)
        {
            throw new QuantSharpException($"{source}: added token {id} has no string 'content'");
        }

        return new AddedToken(content.GetString()!, id, Bool(e, "special", source) ?? false,
            Bool(e, "lstrip", source) ?? false, Bool(e, "rstrip", source) ?? false);
    }

    private static string? Template(JsonElement root, string source)
    {
        if (!root.TryGetProperty("chat_template", out JsonElement t) || t.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (t.ValueKind == JsonValueKind.String)
        {
            return t.GetString();
        }

        // A list of named templates: use "default" (transformers does the same when no name is asked for).
        if (t.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement entry in t.EnumerateArray())
            {
                if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("name", out JsonElement n) && n.ValueEquals("default")
                    && entry.TryGetProperty("template", out JsonElement body) && body.ValueKind == JsonValueKind.String)
                {
                    return body.GetString();
                }
            }

            return null;
        }

        throw new QuantSharpException($"{source}: chat_template is neither a string nor a list of named templates");
    }

    private static string? TokenText(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind switch
        {
            JsonValueKind.String => e.GetString(),
            JsonValueKind.Object when e.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new QuantSharpException($"{source}: '{name}' is neither a string nor a token object with 'content'"),
        };
    }

    private static bool? Bool(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new QuantSharpException($"{source}: '{name}' must be true or false"),
        };
    }

    /// <summary>An id or a list of ids (<c>eos_token_id</c>); anything else yields none.</summary>
    public static IEnumerable<int> Ids(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int id) && id >= 0)
        {
            yield return id;
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement x in e.EnumerateArray())
            {
                if (x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out int i) && i >= 0)
                {
                    yield return i;
                }
            }
        }
    }

    private static void WithJson(string path, Action<JsonElement> read) => WithJson(path, File.ReadAllText(path), read);

    private static void WithJson(string source, string json, Action<JsonElement> read)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            read(doc.RootElement);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a value of the wrong JSON type, or a string that is not valid UTF-8.
            throw new QuantSharpException($"{source}: not valid JSON ({e.Message})", e);
        }
    }
}
