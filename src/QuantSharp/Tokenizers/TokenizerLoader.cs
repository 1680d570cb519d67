using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tokenizers;

/// <summary>
/// Finds and loads the tokenizer of a checkpoint folder or GGUF file, choosing what the folder ships in the order
/// transformers would: <c>tokenizer.json</c>; <c>vocab.json</c> + <c>merges.txt</c>; <c>tokenizer.model</c> (tiktoken
/// or SentencePiece, told apart by content; ChatGLM3's with its appended special tokens); WordPiece <c>vocab.txt</c>.
/// <c>tokenizer_config.json</c> supplies added tokens, BOS/EOS, padding side and the chat template.
/// </summary>
public static class TokenizerLoader
{
    private static readonly string[] s_chatGlm3Specials =
        ["[MASK]", "[gMASK]", "[sMASK]", "sop", "eop", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"];

    /// <summary>Tokens that end a turn or a text in the vocabularies in use (llama.cpp collects the same by name).</summary>
    private static readonly string[] s_endOfGeneration =
        ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|endoftext|>", "<|end|>", "<end_of_turn>", "<|return|>", "<｜end▁of▁sentence｜>"];

    /// <summary>Loads the tokenizer of <paramref name="path"/> (a folder or a .gguf file).</summary>
    /// <exception cref="QuantSharpException">No tokenizer there, or a malformed tokenizer file (the message names it).</exception>
    public static Tokenizer Load(string path) => TryLoad(path)
        ?? throw new QuantSharpException($"{path}: no tokenizer (looked for tokenizer.json, vocab.json + merges.txt, tokenizer.model, vocab.txt)");

    /// <summary>The tokenizer of <paramref name="path"/>, or null when the folder (or GGUF file) has none.</summary>
    /// <exception cref="QuantSharpException">A malformed tokenizer file.</exception>
    public static Tokenizer? TryLoad(string path)
    {
        if (File.Exists(path))
        {
            if (!GgufFile.HasMagic(path))
            {
                throw new QuantSharpException($"{path}: not a GGUF file or a checkpoint folder");
            }

            using GgufFile file = GgufFile.Open(path);
            return GgufVocabulary.Load(file);
        }

        if (!Directory.Exists(path))
        {
            throw new QuantSharpException($"{path}: no such folder or file");
        }

        TokenizerConfig config = TokenizerConfig.Load(path);
        string json = Path.Combine(path, "tokenizer.json");
        string vocabJson = Path.Combine(path, "vocab.json");
        string merges = Path.Combine(path, "merges.txt");
        string model = Path.Combine(path, "tokenizer.model");
        string vocabTxt = Path.Combine(path, "vocab.txt");
        bool chatGlm = config.TokenizerClass is "ChatGLMTokenizer" or "ChatGLM4Tokenizer";
        if (File.Exists(json) && !chatGlm)
        {
            return FromTokenizerJson(json, config);
        }

        if (File.Exists(vocabJson) && File.Exists(merges))
        {
            return FromVocabAndMerges(vocabJson, merges, config);
        }

        if (File.Exists(model))
        {
            return TiktokenFile.Looks(model) ? FromTiktoken(model, config) : FromSentencePiece(model, config);
        }

        if (File.Exists(vocabTxt))
        {
            return FromWordPieceVocab(vocabTxt, config);
        }

        return null;
    }

    private static Tokenizer FromTokenizerJson(string path, TokenizerConfig config)
    {
        TokenizerJson.Contents c = TokenizerJson.Read(path);
        return Build(c.Model, c.Kind, Merge(c.AddedTokens, config.AddedTokens), config, c.Prefix, c.Suffix);
    }

    private static Tokenizer FromVocabAndMerges(string vocabPath, string mergesPath, TokenizerConfig config)
    {
        string?[] tokens = VocabJson.Read(vocabPath);
        var merges = new List<(string, string)>();
        int lineNumber = 0;
        foreach (string raw in File.ReadLines(mergesPath))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)))
            {
                continue;
            }

            merges.Add(line.Split(' ') is [string a, string b] ? (a, b)
                : throw new QuantSharpException($"{mergesPath}: line {lineNumber} is not two tokens separated by a space"));
        }

        bool qwen = config.TokenizerClass is "Qwen2Tokenizer" or "Qwen2TokenizerFast";
        var bpe = new BytePairModel(tokens, MergeOrder.MergesList, merges, byteLevel: true,
            PreTokenizerPatterns.Build([qwen ? PreTokenizerPatterns.Qwen2 : PreTokenizerPatterns.Gpt2]),
            qwen ? new UnicodeNormalizer(System.Text.NormalizationForm.FormC) : null, vocabPath);
        return Build(bpe, "byte-level BPE (vocab.json + merges.txt)", config.AddedTokens, config, Bos(config, bpe, defaultOn: false), Eos(config, bpe));
    }

    private static Tokenizer FromTiktoken(string path, TokenizerConfig config)
    {
        var bpe = new BytePairModel(TiktokenFile.Read(path), MergeOrder.TokenRank, null, byteLevel: true,
            PreTokenizerPatterns.Build([PreTokenizerPatterns.Llama3]), null, path);
        List<int> prefix = config.TokenizerClass == "ChatGLM4Tokenizer"
            ? Ids(config.AddedTokens, path, "[gMASK]", "<sop>")
            : Bos(config, bpe, defaultOn: true);
        return Build(bpe, "tiktoken (tokenizer.model)", config.AddedTokens, config, prefix, Eos(config, bpe));
    }

    private static Tokenizer FromSentencePiece(string path, TokenizerConfig config)
    {
        SentencePieceBpeTokenizer sp = SentencePieceBpeTokenizer.Load(path);
        var added = new List<AddedToken>(config.AddedTokens);
        List<int> prefix;
        var settingsEos = new List<int>();
        if (config.TokenizerClass == "ChatGLMTokenizer")
        {
            // ChatGLM3 appends nine special tokens after the SentencePiece pieces and starts every text with [gMASK] sop;
            // <|user|> and <|observation|> end an assistant turn.
            int first = sp.VocabSize;
            for (int i = 0; i < s_chatGlm3Specials.Length; i++)
            {
                // ChatGLM3's tokenizer turns only the four role tokens back into ids (role_special_token_expression).
                added.Add(new AddedToken(s_chatGlm3Specials[i], first + i, Special: true, MatchedInText: s_chatGlm3Specials[i].StartsWith("<|", StringComparison.Ordinal)));
            }

            prefix = [first + 1, first + 3];
            settingsEos.AddRange([first + 6, first + 8]);
        }
        else
        {
            prefix = config.AddBosToken ?? true ? sp.BosId is int b ? [b] : [] : [];
        }

        for (int id = 0; id < sp.VocabSize; id++)
        {
            if (sp.IsControl(id))
            {
                added.Add(new AddedToken(sp.Piece(id), id, Special: true));
            }
        }

        List<int> suffix = config.AddEosToken == true && sp.EosId is int e ? [e] : [];
        return Build(sp, config.TokenizerClass == "ChatGLMTokenizer" ? "ChatGLM3 SentencePiece (tokenizer.model)" : "SentencePiece BPE (tokenizer.model)",
            added, config, prefix, suffix, sp.BosId, sp.EosId, settingsEos, chatGlm3: config.TokenizerClass == "ChatGLMTokenizer");
    }

    private static Tokenizer FromWordPieceVocab(string path, TokenizerConfig config)
    {
        string[] tokens = File.ReadAllLines(path).Select(l => l.TrimEnd('\r')).ToArray();
        if (tokens.Length > 0 && tokens[^1].Length == 0)
        {
            tokens = tokens[..^1];
        }

        int Required(string token) => Array.IndexOf(tokens, token) is int i and >= 0 ? i
            : throw new QuantSharpException($"{path}: '{token}' is not in the vocabulary");
        string unk = config.UnkToken ?? "[UNK]";
        var specials = new[] { unk, "[CLS]", "[SEP]", "[PAD]", "[MASK]" }.Where(t => Array.IndexOf(tokens, t) >= 0).ToArray();
        var added = new List<AddedToken>(config.AddedTokens);
        foreach (string s in specials)
        {
            if (!added.Any(a => a.Content == s))
            {
                added.Add(new AddedToken(s, Required(s), Special: true));
            }
        }

        var model = new WordPieceModel(tokens, Required(unk), config.DoLowerCase ?? true)
        {
            ControlIds = specials.Select(Required).Where(i => i != Required(unk)).ToHashSet(),
        };
        return Build(model, "WordPiece (vocab.txt)", added, config, [Required("[CLS]")], [Required("[SEP]")], null, null, [],
            padId: Array.IndexOf(tokens, config.PadToken ?? "[PAD]") is int p and >= 0 ? p : null);
    }

    private static List<int> Bos(TokenizerConfig config, ITokenModel model, bool defaultOn)
        => (config.AddBosToken ?? (defaultOn && config.BosToken is not null)) && Id(config.BosToken, config, model) is int b ? [b] : [];

    private static List<int> Eos(TokenizerConfig config, ITokenModel model)
        => config.AddEosToken == true && Id(config.EosToken, config, model) is int e ? [e] : [];

    private static int? Id(string? token, TokenizerConfig config, ITokenModel model)
    {
        if (token is null)
        {
            return null;
        }

        AddedToken? added = config.AddedTokens.FirstOrDefault(t => t.Content == token);
        return added?.Id ?? model.IdOf(token);
    }

    private static List<int> Ids(List<AddedToken> added, string path, params string[] tokens) => tokens
        .Select(t => added.FirstOrDefault(a => a.Content == t)?.Id ?? throw new QuantSharpException($"{path}: special token '{t}' is not among the added tokens of tokenizer_config.json"))
        .ToList();

    private static List<AddedToken> Merge(List<AddedToken> primary, List<AddedToken> secondary)
    {
        var result = new List<AddedToken>(primary);
        foreach (AddedToken t in secondary)
        {
            if (!result.Any(r => r.Id == t.Id))
            {
                result.Add(t);
            }
        }

        return result;
    }

    internal static Tokenizer Build(ITokenModel model, string kind, List<AddedToken> added, TokenizerConfig? config, List<int> prefix, List<int> suffix,
        int? bos = null, int? eos = null, List<int>? extraEos = null, int? padId = null, bool chatGlm3 = false)
    {
        int? Find(string? text) => text is null ? null : added.FirstOrDefault(t => t.Content == text)?.Id ?? model.IdOf(text);
        bos = Find(config?.BosToken) ?? bos;
        eos = Find(config?.EosToken) ?? eos;
        var eosIds = new List<int>();
        void AddEos(int? id)
        {
            if (id is int i && !eosIds.Contains(i))
            {
                eosIds.Add(i);
            }
        }

        AddEos(eos);
        foreach (int id in config?.EosIds ?? [])
        {
            AddEos(id);
        }

        foreach (int id in extraEos ?? [])
        {
            AddEos(id);
        }

        foreach (string name in s_endOfGeneration)
        {
            if (added.FirstOrDefault(t => t.Content == name && t.Special) is AddedToken t)
            {
                AddEos(t.Id);
            }
        }

        return new Tokenizer(model, kind, added, new TokenizerSettings
        {
            Prefix = prefix,
            Suffix = suffix,
            BosId = bos,
            EosId = eos,
            EosIds = eosIds,
            PadId = Find(config?.PadToken) ?? padId,
            PaddingSide = config?.PaddingSide ?? PaddingSide.Right,
            ChatTemplate = config?.ChatTemplate,
            ChatGlm3Format = chatGlm3,
            BosToken = config?.BosToken,
            EosToken = config?.EosToken,
        });
    }
}
