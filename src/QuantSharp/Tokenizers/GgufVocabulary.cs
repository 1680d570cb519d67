using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tokenizers;

/// <summary>
/// The vocabulary of a GGUF file (<c>tokenizer.ggml.*</c>), of every kind llama.cpp writes: <c>llama</c> (SentencePiece:
/// tokens, scores, piece types 1–6, <c>add_space_prefix</c> default true, <c>remove_extra_whitespaces</c> default false, as
/// llama.cpp's SPM tokenizer does not collapse spaces), <c>gpt2</c> (byte-level BPE: tokens, merges, the pre-tokenizer
/// named by <c>tokenizer.ggml.pre</c>) and <c>bert</c> (WordPiece with word-initial tokens stored as "▁word" and
/// continuations without "##").
/// </summary>
public static class GgufVocabulary
{
    /// <summary>Tokenizer model name llama.cpp uses for SentencePiece vocabularies.</summary>
    public const string SentencePieceModelName = "llama";

    /// <summary>llama.cpp's token types (the SentencePiece piece types).</summary>
    private const int Control = 3, UserDefined = 4;

    /// <summary>llama.cpp's tokenizer model name for a file that carries no vocabulary (the model runs on token ids).</summary>
    public const string NoVocabularyModelName = "no_vocab";

    /// <summary>The tokenizer stored in <paramref name="file"/>, or null when it has no <c>tokenizer.ggml.model</c> or
    /// says <c>no_vocab</c>/<c>none</c>.</summary>
    /// <exception cref="GgufException">An unsupported tokenizer model, or arrays of the wrong type or length.</exception>
    public static Tokenizer? Load(GgufFile file)
    {
        if (file.GetValueOrNull("tokenizer.ggml.model") is null)
        {
            return null;
        }

        string model = file.GetString("tokenizer.ggml.model");
        if (model is NoVocabularyModelName or "none")
        {
            return null;
        }

        string[] tokens = file.GetArray<string>("tokenizer.ggml.tokens");
        int[] types = file.GetValueOrNull("tokenizer.ggml.token_type") is null
            ? Enumerable.Repeat(1, tokens.Length).ToArray()
            : file.GetArray<int>("tokenizer.ggml.token_type");
        if (types.Length != tokens.Length)
        {
            throw new GgufException(GgufError.BadShape, file.Location, "tokenizer.ggml.token_type", $"{tokens.Length} tokens but {types.Length} token types");
        }

        int? bos = OptionalId(file, "tokenizer.ggml.bos_token_id", tokens.Length);
        int? eos = OptionalId(file, "tokenizer.ggml.eos_token_id", tokens.Length);
        string? template = file.GetValueOrNull("tokenizer.chat_template") is null ? null : file.GetString("tokenizer.chat_template");
        var config = new TokenizerConfig { ChatTemplate = template };
        var added = new List<AddedToken>();
        for (int i = 0; i < tokens.Length; i++)
        {
            if (types[i] is Control or UserDefined && tokens[i].Length > 0)
            {
                added.Add(new AddedToken(tokens[i], i, Special: types[i] == Control));
            }
        }

        switch (model)
        {
            case SentencePieceModelName:
            {
                SentencePieceBpeTokenizer sp = LoadSentencePiece(file, tokens, types);
                var prefix = Bool(file, "tokenizer.ggml.add_bos_token", true) && bos is int b ? new List<int> { b } : [];
                var suffix = Bool(file, "tokenizer.ggml.add_eos_token", false) && eos is int e ? new List<int> { e } : [];
                // SentencePiece matches its user-defined pieces itself.
                added.RemoveAll(t => !t.Special);
                return TokenizerLoader.Build(sp, "SentencePiece BPE (GGUF)", added, config, prefix, suffix, bos, eos);
            }

            case "gpt2":
            {
                string pre = file.GetValueOrNull("tokenizer.ggml.pre") is null ? "default" : file.GetString("tokenizer.ggml.pre");
                string[] patterns = PreTokenizerPatterns.ForGgufName(pre)
                    ?? throw new GgufException(GgufError.WrongType, file.Location, "tokenizer.ggml.pre", $"pre-tokenizer '{pre}' is not known to this build");
                string[] merges = file.GetArray<string>("tokenizer.ggml.merges");
                bool llama3Family = pre is "llama3" or "llama-bpe" or "llama-v3" or "falcon3" or "pixtral";
                var pairs = merges.Select((m, i) => m.IndexOf(' ', StringComparison.Ordinal) is int space and > 0 ? (m[..space], m[(space + 1)..])
                    : throw new GgufException(GgufError.BadShape, file.Location, "tokenizer.ggml.merges", $"merge {i} is not two tokens separated by a space"));
                var bpe = new BytePairModel(tokens, MergeOrder.MergesList, pairs, byteLevel: true, PreTokenizerPatterns.Build(patterns), null, file.Location)
                {
                    // llama.cpp emits a piece that is a whole token without merging for Llama 3's vocabulary.
                    IgnoreMerges = llama3Family || pre is "tekken",
                    UnknownId = OptionalId(file, "tokenizer.ggml.unknown_token_id", tokens.Length),
                };
                // llama.cpp adds BOS for the Llama 3 family unless the file says otherwise; other BPE vocabularies only when asked.
                var prefix = Bool(file, "tokenizer.ggml.add_bos_token", llama3Family) && bos is int b ? new List<int> { b } : [];
                var suffix = Bool(file, "tokenizer.ggml.add_eos_token", false) && eos is int e ? new List<int> { e } : [];
                return TokenizerLoader.Build(bpe, $"byte-level BPE '{pre}' (GGUF)", added, config, prefix, suffix, bos, eos);
            }

            case "bert":
            {
                // HF spelling: "▁word" starts a word ("word"), anything else continues one ("##piece"); control tokens as stored.
                var vocab = tokens.Select((t, i) => types[i] == Control ? t : t.StartsWith('\u2581') ? t[1..] : "##" + t).ToArray();
                int unk = OptionalId(file, "tokenizer.ggml.unknown_token_id", tokens.Length) ?? (Array.IndexOf(tokens, "[UNK]") is int u and >= 0 ? u
                    : throw new GgufException(GgufError.BadShape, file.Location, "tokenizer.ggml.unknown_token_id", "a WordPiece vocabulary needs an unknown token"));
                int? cls = OptionalId(file, "tokenizer.ggml.cls_token_id", tokens.Length) ?? bos;
                int? sep = OptionalId(file, "tokenizer.ggml.seperator_token_id", tokens.Length) ?? eos;
                var wordPiece = new WordPieceModel(vocab, unk, lowercase: true)
                {
                    ControlIds = added.Where(t => t.Special && t.Id != unk).Select(t => t.Id).ToHashSet(),
                };
                return TokenizerLoader.Build(wordPiece, "WordPiece (GGUF)", added, config, cls is int c ? [c] : [], sep is int s ? [s] : [], cls, sep,
                    padId: OptionalId(file, "tokenizer.ggml.padding_token_id", tokens.Length));
            }

            default:
                throw new GgufException(GgufError.WrongType, file.Location, "tokenizer.ggml.model",
                    $"tokenizer '{model}' is not supported (supported: llama, gpt2, bert)");
        }
    }

    private static SentencePieceBpeTokenizer LoadSentencePiece(GgufFile file, string[] tokens, int[] types)
    {
        float[] scores = file.GetValueOrNull("tokenizer.ggml.scores") is null ? new float[tokens.Length] : file.GetArray<float>("tokenizer.ggml.scores");
        if (scores.Length != tokens.Length)
        {
            throw new GgufException(GgufError.BadShape, file.Location, "tokenizer.ggml.scores", $"{tokens.Length} tokens but {scores.Length} scores");
        }

        PieceType[] pieceTypes = new PieceType[types.Length];
        for (int i = 0; i < types.Length; i++)
        {
            pieceTypes[i] = types[i] is >= 1 and <= 6 ? (PieceType)types[i]
                : throw new GgufException(GgufError.WrongType, file.Location, "tokenizer.ggml.token_type", $"token {i} has type {types[i]}; SentencePiece types are 1 to 6");
        }

        var sp = new SentencePieceModel
        {
            Pieces = tokens,
            Scores = scores,
            Types = pieceTypes,
            ModelType = 2,
            ByteFallback = pieceTypes.Contains(PieceType.Byte),
            UnkId = Id(file, "tokenizer.ggml.unknown_token_id", 0, tokens.Length),
            BosId = Id(file, "tokenizer.ggml.bos_token_id", 1, tokens.Length),
            EosId = Id(file, "tokenizer.ggml.eos_token_id", 2, tokens.Length),
            AddDummyPrefix = Bool(file, "tokenizer.ggml.add_space_prefix", true),
            RemoveExtraWhitespaces = Bool(file, "tokenizer.ggml.remove_extra_whitespaces", false),
        };
        return new SentencePieceBpeTokenizer(sp);
    }

    private static int? OptionalId(GgufFile file, string key, int count) => file.GetValueOrNull(key) is null ? null : Id(file, key, 0, count);

    /// <summary>Writes <paramref name="model"/> as <c>tokenizer.ggml.*</c> metadata.</summary>
    public static void Write(GgufWriter writer, SentencePieceModel model, bool addBos)
        => WriteSentencePiece(writer, model, model.Pieces, model.Scores, model.Types.Select(t => (int)t).ToArray(), addBos, pre: null);

    /// <summary>
    /// Writes <paramref name="tokenizer"/>'s SentencePiece vocabulary padded to <paramref name="vocabSize"/> entries, as
    /// llama.cpp's converter does for ChatGLM3 (whose embedding has more rows than its SentencePiece model has pieces):
    /// the pieces, then each added token at its id (special ones as control tokens), then <c>[PADn]</c> unused
    /// entries; <c>add_bos_token</c> false, since such models put their own prefix (<c>[gMASK] sop</c>) in the prompt.
    /// </summary>
    /// <exception cref="QuantSharpException">The vocabulary or an added token's id does not fit <paramref name="vocabSize"/>.</exception>
    public static void WritePadded(GgufWriter writer, Tokenizer tokenizer, int vocabSize, string pre)
    {
        SentencePieceModel model = ((SentencePieceBpeTokenizer)tokenizer.Model).Model;
        if (model.Pieces.Length > vocabSize || tokenizer.AddedTokens.Any(t => t.Id >= vocabSize))
        {
            throw new QuantSharpException($"the tokenizer has {Math.Max(model.Pieces.Length, tokenizer.AddedTokens.Select(t => t.Id + 1).DefaultIfEmpty(0).Max())} tokens, more than the model's {vocabSize} embedding rows");
        }

        var tokens = new string[vocabSize];
        var scores = new float[vocabSize];
        var types = new int[vocabSize];
        for (int i = 0; i < vocabSize; i++)
        {
            (tokens[i], scores[i], types[i]) = i < model.Pieces.Length ? (model.Pieces[i], model.Scores[i], (int)model.Types[i]) : ($"[PAD{i}]", 0f, (int)PieceType.Unused);
        }

        foreach (AddedToken added in tokenizer.AddedTokens.Where(t => t.Id >= model.Pieces.Length))
        {
            (tokens[added.Id], types[added.Id]) = (added.Content, added.Special ? Control : UserDefined);
        }

        WriteSentencePiece(writer, model, tokens, scores, types, addBos: false, pre);
    }

    /// <summary>
    /// Writes a byte-level BPE vocabulary ranked as tiktoken ranks it (GLM-4's and Llama 3's <c>tokenizer.model</c>) as llama.cpp's
    /// <c>gpt2</c> model padded to <paramref name="vocabSize"/> entries: the tokens in the byte alphabet, each added token
    /// at its id (special ones as control tokens), <c>[PADn]</c> unused entries, and the merge list llama.cpp needs,
    /// recovered from the ranks (<see cref="LastMerge"/>), one per multi-byte token in rank order, so merge priority
    /// equals tiktoken's rank priority.
    /// </summary>
    /// <exception cref="QuantSharpException">The tokenizer is not a ranked byte-level BPE, or does not fit <paramref name="vocabSize"/>.</exception>
    public static void WriteRankedBytePair(GgufWriter writer, Tokenizer tokenizer, int vocabSize, string pre, int? endOfTurnId)
    {
        if (tokenizer.Model is not BytePairModel { Order: MergeOrder.TokenRank, ByteLevel: true } bpe)
        {
            throw new QuantSharpException($"a {tokenizer.Kind} tokenizer is not a ranked byte-level BPE (tiktoken) vocabulary");
        }

        if (bpe.VocabSize > vocabSize || tokenizer.AddedTokens.Any(t => t.Id >= vocabSize))
        {
            throw new QuantSharpException($"the tokenizer has more tokens than the model's {vocabSize} embedding rows");
        }

        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        var merges = new List<string>();
        for (int id = 0; id < vocabSize; id++)
        {
            string? text = id < bpe.VocabSize ? bpe.TokenText(id) : null;
            (tokens[id], types[id]) = text is null ? ($"[PAD{id}]", (int)PieceType.Unused) : (text, (int)PieceType.Normal);
            if (text is { Length: > 1 } && LastMerge(bpe, text, id) is (string left, string right))
            {
                merges.Add(left + " " + right);
            }
        }

        foreach (AddedToken added in tokenizer.AddedTokens)
        {
            (tokens[added.Id], types[added.Id]) = (added.Content, added.Special ? Control : UserDefined);
        }

        writer.Add("tokenizer.ggml.model", "gpt2");
        writer.Add("tokenizer.ggml.pre", pre);
        writer.Add("tokenizer.ggml.tokens", tokens);
        writer.Add("tokenizer.ggml.token_type", types);
        writer.Add("tokenizer.ggml.merges", merges.ToArray());
        if (tokenizer.EosId is int eos)
        {
            writer.Add("tokenizer.ggml.eos_token_id", (uint)eos);
            writer.Add("tokenizer.ggml.unknown_token_id", (uint)eos);
        }

        if (endOfTurnId is int eot)
        {
            writer.Add("tokenizer.ggml.eot_token_id", (uint)eot);
        }

        if (tokenizer.BosId is int bos)
        {
            writer.Add("tokenizer.ggml.bos_token_id", (uint)bos);
        }

        writer.Add("tokenizer.ggml.add_bos_token", tokenizer.AddBosByDefault);
    }

    /// <summary>
    /// The two parts <paramref name="token"/> (of rank <paramref name="rank"/>) is merged from: its characters merged as
    /// tiktoken's BPE merges them, lowest rank first. llama.cpp's converter stops at tokens ranked below the token and
    /// drops the ~0.7 % of GLM-4 tokens that then keep more than two parts; tiktoken still emits those for a piece that
    /// is the whole token, so here the merging goes on through higher ranks until two parts remain, and such a token
    /// is reachable from the merge list too. Null when no adjacent pair is a token.
    /// </summary>
    private static (string, string)? LastMerge(BytePairModel bpe, string token, int rank)
    {
        var parts = token.Select(c => c.ToString()).ToList();
        while (parts.Count > 2)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < parts.Count; i++)
            {
                if (bpe.IdOf(parts[i] + parts[i + 1]) is int r && r != rank && r < bestRank)
                {
                    (best, bestRank) = (i, r);
                }
            }

            if (best < 0)
            {
                return null;
            }

            parts[best] += parts[best + 1];
            parts.RemoveAt(best + 1);
        }

        return (parts[0], parts[1]);
    }

    /// <summary>Writes llama.cpp's <c>no_vocab</c> tokenizer model, for a checkpoint that has no tokenizer: llama.cpp then
    /// makes <c>ARCH.vocab_size</c> placeholder tokens (the caller writes that key) and runs the model on token ids.</summary>
    public static void WriteNone(GgufWriter writer) => writer.Add("tokenizer.ggml.model", NoVocabularyModelName);

    private static void WriteSentencePiece(GgufWriter writer, SentencePieceModel model, string[] tokens, float[] scores, int[] types, bool addBos, string? pre)
    {
        writer.Add("tokenizer.ggml.model", SentencePieceModelName);
        if (pre is not null)
        {
            writer.Add("tokenizer.ggml.pre", pre);
        }

        writer.Add("tokenizer.ggml.tokens", tokens);
        writer.Add("tokenizer.ggml.scores", scores);
        writer.Add("tokenizer.ggml.token_type", types);
        if (model.BosId >= 0)
        {
            writer.Add("tokenizer.ggml.bos_token_id", (uint)model.BosId);
        }

        if (model.EosId >= 0)
        {
            writer.Add("tokenizer.ggml.eos_token_id", (uint)model.EosId);
        }

        if (model.UnkId >= 0)
        {
            writer.Add("tokenizer.ggml.unknown_token_id", (uint)model.UnkId);
        }

        writer.Add("tokenizer.ggml.add_bos_token", addBos);
        writer.Add("tokenizer.ggml.add_eos_token", false);
        writer.Add("tokenizer.ggml.add_space_prefix", model.AddDummyPrefix);
        writer.Add("tokenizer.ggml.remove_extra_whitespaces", model.RemoveExtraWhitespaces);
    }

    private static int Id(GgufFile file, string key, int fallback, int count)
    {
        long id = file.GetInteger(key, fallback);
        return id >= 0 && id < count ? (int)id
            : throw new GgufException(GgufError.BadShape, file.Location, key, $"id {id} is outside the vocabulary of {count} tokens");
    }

    private static bool Bool(GgufFile file, string key, bool fallback) => file.GetValueOrNull(key) switch
    {
        null => fallback,
        { Value: bool b } => b,
        _ => throw new GgufException(GgufError.WrongType, file.Location, key, "expected a bool"),
    };
}
