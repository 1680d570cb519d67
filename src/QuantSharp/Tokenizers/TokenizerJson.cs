using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace QuantSharp.Tokenizers;

/// <summary>
/// Reads Hugging Face's <c>tokenizer.json</c> ("fast" tokenizer): a BPE or WordPiece model, its normalizer,
/// pre-tokenizer, post-processor (the ids added around a text) and added tokens. Components outside the supported set
/// are refused with an error naming them rather than silently encoding differently.
/// </summary>
internal static class TokenizerJson
{
    /// <summary>What the file defines.</summary>
    internal sealed record Contents(ITokenModel Model, string Kind, List<AddedToken> AddedTokens, List<int> Prefix, List<int> Suffix);

    public static Contents Read(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using JsonDocument doc = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 64 });
            return Read(doc.RootElement, path);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a value of the wrong JSON type, or a string that is not valid UTF-8.
            throw new QuantSharpException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    private static Contents Read(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
        {
            throw new QuantSharpException($"{path}: no 'model' object (not a Hugging Face tokenizer.json)");
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out JsonElement addedArray) && addedArray.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement t in addedArray.EnumerateArray())
            {
                int id = t.TryGetProperty("id", out JsonElement idElement) && idElement.TryGetInt32(out int i) && i >= 0 ? i
                    : throw new QuantSharpException($"{path}: an added_tokens entry has no non-negative 'id'");
                added.Add(TokenizerConfig.ReadAddedToken(t, id, path));
            }
        }

        TextNormalizer? normalizer = Normalizer(Get(root, "normalizer"), path);
        JsonElement? pre = Get(root, "pre_tokenizer");
        PreTokenizer? preTokenizer = PreTokenizer(pre, path);
        bool byteLevel = Mentions(pre, "ByteLevel") || Mentions(Get(root, "decoder"), "ByteLevel");
        string type = Str(model, "type", path) ?? (model.TryGetProperty("merges", out _) ? "BPE" : "");
        ITokenModel tokenModel;
        string kind;
        switch (type)
        {
            case "BPE":
                tokenModel = Bpe(model, byteLevel, preTokenizer, normalizer, Mentions(Get(root, "decoder"), "Metaspace") || Mentions(Get(root, "decoder"), "Replace"), path);
                kind = byteLevel ? "byte-level BPE (tokenizer.json)" : "BPE (tokenizer.json)";
                break;
            case "WordPiece":
                tokenModel = WordPiece(model, Get(root, "normalizer"), path);
                kind = "WordPiece (tokenizer.json)";
                break;
            default:
                throw new QuantSharpException($"{path}: tokenizer model type '{type}' is not supported (supported: BPE, WordPiece)");
        }

        var prefix = new List<int>();
        var suffix = new List<int>();
        PostProcessor(Get(root, "post_processor"), prefix, suffix, path);
        return new Contents(tokenModel, kind, added, prefix, suffix);
    }

    private static BytePairModel Bpe(JsonElement model, bool byteLevel, PreTokenizer? pre, TextNormalizer? normalizer, bool metaspace, string path)
    {
        if (!model.TryGetProperty("vocab", out JsonElement vocab) || vocab.ValueKind != JsonValueKind.Object)
        {
            throw new QuantSharpException($"{path}: model.vocab is not an object");
        }

        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (Str(model, affix, path) is { Length: > 0 } value)
            {
                throw new QuantSharpException($"{path}: BPE {affix} '{value}' is not supported");
            }
        }

        var byId = new Dictionary<int, string>();
        int max = -1;
        foreach (JsonProperty p in vocab.EnumerateObject())
        {
            if (!p.Value.TryGetInt32(out int id) || id < 0 || id > 1 << 24)
            {
                throw new QuantSharpException($"{path}: vocab entry '{p.Name}' has no valid id");
            }

            byId[id] = p.Name;
            max = Math.Max(max, id);
        }

        CheckDense(max, byId.Count, path);
        var tokens = new string?[max + 1];
        foreach ((int id, string token) in byId)
        {
            tokens[id] = token;
        }

        var merges = new List<(string, string)>();
        if (model.TryGetProperty("merges", out JsonElement mergeArray) && mergeArray.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement m in mergeArray.EnumerateArray())
            {
                merges.Add(m.ValueKind switch
                {
                    JsonValueKind.String when m.GetString()!.Split(' ') is [string a, string b] => (a, b),
                    JsonValueKind.Array when m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String
                        => (m[0].GetString()!, m[1].GetString()!),
                    _ => throw new QuantSharpException($"{path}: merge {merges.Count} is neither \"a b\" nor [\"a\", \"b\"]"),
                });
            }
        }

        string? unk = Str(model, "unk_token", path);
        return new BytePairModel(tokens, MergeOrder.MergesList, merges, byteLevel, pre, normalizer, path)
        {
            IgnoreMerges = Bool(model, "ignore_merges"),
            ByteFallback = Bool(model, "byte_fallback"),
            FuseUnknown = Bool(model, "fuse_unk"),
            UnknownId = unk is not null && byId.FirstOrDefault(kv => kv.Value == unk) is { Value: not null } u ? u.Key : null,
            MetaspaceDecoding = metaspace && !byteLevel,
        };
    }

    private static WordPieceModel WordPiece(JsonElement model, JsonElement? normalizer, string path)
    {
        if (!model.TryGetProperty("vocab", out JsonElement vocab) || vocab.ValueKind != JsonValueKind.Object)
        {
            throw new QuantSharpException($"{path}: model.vocab is not an object");
        }

        var byId = new Dictionary<int, string>();
        foreach (JsonProperty p in vocab.EnumerateObject())
        {
            byId[p.Value.TryGetInt32(out int id) && id >= 0 && id < 1 << 24 ? id : throw new QuantSharpException($"{path}: vocab entry '{p.Name}' has no valid id")] = p.Name;
        }

        CheckDense(byId.Count == 0 ? -1 : byId.Keys.Max(), byId.Count, path);
        var tokens = new string[byId.Count == 0 ? 0 : byId.Keys.Max() + 1];
        foreach ((int id, string token) in byId)
        {
            tokens[id] = token;
        }

        for (int i = 0; i < tokens.Length; i++)
        {
            tokens[i] ??= "";
        }

        string unk = Str(model, "unk_token", path) ?? "[UNK]";
        int unkId = byId.FirstOrDefault(kv => kv.Value == unk) is { Value: not null } u ? u.Key
            : throw new QuantSharpException($"{path}: unk_token '{unk}' is not in the vocabulary");
        bool lowercase = normalizer is JsonElement n && n.ValueKind == JsonValueKind.Object && n.TryGetProperty("lowercase", out JsonElement lc) && lc.ValueKind == JsonValueKind.True;
        int maxChars = model.TryGetProperty("max_input_chars_per_word", out JsonElement mc) && mc.TryGetInt32(out int m) ? m : 100;
        return new WordPieceModel(tokens, unkId, lowercase, Str(model, "continuing_subword_prefix", path) ?? "##", maxChars);
    }

    /// <summary>Ids must be (nearly) dense: a file cannot make us allocate far more than it holds.</summary>
    internal static void CheckDense(int maxId, int count, string path)
    {
        if (maxId >= 2 * count + 1024)
        {
            throw new QuantSharpException($"{path}: the vocabulary has {count} entries but ids up to {maxId}; ids must be nearly dense");
        }
    }

    private static TextNormalizer? Normalizer(JsonElement? element, string path)
    {
        if (element is not JsonElement e || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        string type = Str(e, "type", path) ?? "";
        return type switch
        {
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "Lowercase" => new LowercaseNormalizer(),
            "StripAccents" => new StripAccentsNormalizer(),
            "Prepend" => new PrependNormalizer(Str(e, "prepend", path) ?? ""),
            "Strip" => new StripNormalizer(Bool(e, "strip_left"), Bool(e, "strip_right")),
            "Replace" => Pattern(e, path) switch
            {
                (string literal, null) => new ReplaceNormalizer(literal, null, Str(e, "content", path) ?? ""),
                (_, string regex) => new ReplaceNormalizer(null, CompileRegex(regex, path, p => SplitPattern.CompileRegex(p)), Str(e, "content", path) ?? ""),
                _ => throw new QuantSharpException($"{path}: Replace normalizer without a pattern"),
            },
            "BertNormalizer" => new BertNormalizer(Bool(e, "clean_text", true), Bool(e, "handle_chinese_chars", true), Bool(e, "lowercase", true),
                e.TryGetProperty("strip_accents", out JsonElement sa) && sa.ValueKind is JsonValueKind.True or JsonValueKind.False ? sa.GetBoolean() : Bool(e, "lowercase", true)),
            "Sequence" => new SequenceNormalizer(Array(e, "normalizers", path).Select(x => Normalizer(x, path)).OfType<TextNormalizer>().ToArray()),
            _ => throw new QuantSharpException($"{path}: normalizer '{type}' is not supported"),
        };
    }

    private static PreTokenizer? PreTokenizer(JsonElement? element, string path)
    {
        if (element is not JsonElement e || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        string type = Str(e, "type", path) ?? "";
        return type switch
        {
            "ByteLevel" => new ByteLevelPreTokenizer(Bool(e, "add_prefix_space"), Bool(e, "use_regex", true)),
            "Split" => new RegexSplitter(Pattern(e, path) switch
            {
                (string literal, null) => Tokenizers.PreTokenizer.Compile(Regex.Escape(literal)),
                (_, string regex) => CompileRegex(regex, path, p => SplitPattern.Compile(p)),
                _ => throw new QuantSharpException($"{path}: Split pre-tokenizer without a pattern"),
            }, Behavior(Str(e, "behavior", path), path), Bool(e, "invert")),
            "Digits" => new DigitsPreTokenizer(Bool(e, "individual_digits")),
            "Metaspace" => new MetaspacePreTokenizer(Str(e, "replacement", path) is { Length: 1 } r ? r[0] : '\u2581',
                Str(e, "prepend_scheme", path) is string scheme
                    ? scheme is "always" or "first" or "never" ? scheme : throw new QuantSharpException($"{path}: Metaspace prepend_scheme '{scheme}' is not always, first or never")
                    : Bool(e, "add_prefix_space", true) ? "always" : "never",
                Bool(e, "split", true)),
            "BertPreTokenizer" => new WhitespacePreTokenizer(isolatePunctuation: true),
            "WhitespaceSplit" => new WhitespacePreTokenizer(isolatePunctuation: false),
            "Whitespace" => new RegexSplitter(Tokenizers.PreTokenizer.Compile(@"\w+|[^\w\s]+"), SplitBehavior.Removed, invert: true),
            "Sequence" => new SequencePreTokenizer(Array(e, "pretokenizers", path).Select(x => PreTokenizer(x, path)).OfType<PreTokenizer>().ToArray()),
            _ => throw new QuantSharpException($"{path}: pre-tokenizer '{type}' is not supported"),
        };
    }

    private static SplitBehavior Behavior(string? name, string path) => name switch
    {
        null or "Isolated" => SplitBehavior.Isolated,
        "Removed" => SplitBehavior.Removed,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        _ => throw new QuantSharpException($"{path}: Split behavior '{name}' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous"),
    };

    private static void PostProcessor(JsonElement? element, List<int> prefix, List<int> suffix, string path)
    {
        if (element is not JsonElement e || e.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        string type = Str(e, "type", path) ?? "";
        switch (type)
        {
            case "ByteLevel":
                return;
            case "Sequence":
                foreach (JsonElement p in Array(e, "processors", path))
                {
                    PostProcessor(p, prefix, suffix, path);
                }

                return;
            case "BertProcessing" or "RobertaProcessing":
                prefix.Add(PairId(e, "cls", path));
                suffix.Add(PairId(e, "sep", path));
                return;
            case "TemplateProcessing":
                var specials = new Dictionary<string, int[]>(StringComparer.Ordinal);
                if (e.TryGetProperty("special_tokens", out JsonElement map) && map.ValueKind == JsonValueKind.Object)
                {
                    foreach (JsonProperty p in map.EnumerateObject())
                    {
                        specials[p.Name] = p.Value.TryGetProperty("ids", out JsonElement ids) && ids.ValueKind == JsonValueKind.Array
                            ? ids.EnumerateArray().Select(x => x.TryGetInt32(out int v) ? v : throw new QuantSharpException($"{path}: special token '{p.Name}' has a non-integer id")).ToArray()
                            : throw new QuantSharpException($"{path}: special token '{p.Name}' of the post-processor has no 'ids'");
                    }
                }

                bool afterSequence = false;
                foreach (JsonElement item in Array(e, "single", path))
                {
                    if (item.TryGetProperty("Sequence", out _))
                    {
                        afterSequence = true;
                    }
                    else if (item.TryGetProperty("SpecialToken", out JsonElement st) && Str(st, "id", path) is string name)
                    {
                        (afterSequence ? suffix : prefix).AddRange(specials.TryGetValue(name, out int[]? ids) ? ids
                            : throw new QuantSharpException($"{path}: post-processor template names '{name}', which is not in its special_tokens"));
                    }
                }

                return;
            default:
                throw new QuantSharpException($"{path}: post-processor '{type}' is not supported");
        }
    }

    private static int PairId(JsonElement e, string name, string path)
        => e.TryGetProperty(name, out JsonElement pair) && pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() == 2 && pair[1].TryGetInt32(out int id)
            ? id : throw new QuantSharpException($"{path}: post-processor '{name}' is not a [token, id] pair");

    private static (string? Literal, string? Regex) Pattern(JsonElement e, string path)
    {
        if (!e.TryGetProperty("pattern", out JsonElement p) || p.ValueKind != JsonValueKind.Object)
        {
            return (null, null);
        }

        if (p.TryGetProperty("String", out JsonElement s) && s.ValueKind == JsonValueKind.String)
        {
            return (s.GetString(), null);
        }

        if (p.TryGetProperty("Regex", out JsonElement r) && r.ValueKind == JsonValueKind.String)
        {
            return (null, r.GetString());
        }

        return (null, null);
    }

    private static T CompileRegex<T>(string pattern, string path, Func<string, T> compile)
    {
        try
        {
            return compile(pattern);
        }
        catch (ArgumentException ex)
        {
            throw new QuantSharpException($"{path}: pattern '{pattern}' is not a regex .NET accepts ({ex.Message})", ex);
        }
    }

    private static bool Mentions(JsonElement? element, string type)
    {
        if (element is not JsonElement e)
        {
            return false;
        }

        return e.ValueKind switch
        {
            JsonValueKind.Object => (e.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String && t.ValueEquals(type))
                || e.EnumerateObject().Any(p => p.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array && Mentions(p.Value, type)),
            JsonValueKind.Array => e.EnumerateArray().Any(x => Mentions(x, type)),
            _ => false,
        };
    }

    private static JsonElement? Get(JsonElement e, string name) => e.TryGetProperty(name, out JsonElement v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static IEnumerable<JsonElement> Array(JsonElement e, string name, string path)
        => e.TryGetProperty(name, out JsonElement a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray().ToArray()
            : throw new QuantSharpException($"{path}: '{name}' is not a list");

    private static string? Str(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new QuantSharpException($"{path}: '{name}' is not a string");
    }

    private static bool Bool(JsonElement e, string name, bool fallback = false)
        => e.TryGetProperty(name, out JsonElement v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;
}
