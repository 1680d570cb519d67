namespace QuantSharp.Formats.Gguf;

/// <summary>
/// The SentencePiece vocabulary of a GGUF file (<c>tokenizer.ggml.model</c> = "llama"): <c>tokens</c>, <c>scores</c>,
/// <c>token_type</c> (the SentencePiece piece types 1–6), the special ids and the normalizer switches
/// <c>add_space_prefix</c> (default true) and <c>remove_extra_whitespaces</c> (default false, as llama.cpp's SPM
/// tokenizer does not collapse spaces).
/// </summary>
public static class GgufTokenizer
{
    /// <summary>Tokenizer model name llama.cpp uses for SentencePiece vocabularies.</summary>
    public const string SentencePieceModelName = "llama";

    /// <summary>The tokenizer stored in <paramref name="file"/>, or null when it has no <c>tokenizer.ggml.model</c>.</summary>
    /// <exception cref="GgufException">Another tokenizer model, or arrays of the wrong type or length.</exception>
    public static SentencePieceBpeTokenizer? Load(GgufFile file)
    {
        if (file.GetValueOrNull("tokenizer.ggml.model") is null)
        {
            return null;
        }

        string model = file.GetString("tokenizer.ggml.model");
        if (model != SentencePieceModelName)
        {
            throw new GgufException(GgufError.WrongType, file.Location, "tokenizer.ggml.model",
                $"tokenizer '{model}' is not supported; only SentencePiece vocabularies ('{SentencePieceModelName}') are");
        }

        string[] tokens = file.GetArray<string>("tokenizer.ggml.tokens");
        float[] scores = file.GetValueOrNull("tokenizer.ggml.scores") is null ? new float[tokens.Length] : file.GetArray<float>("tokenizer.ggml.scores");
        int[] types = file.GetValueOrNull("tokenizer.ggml.token_type") is null
            ? Enumerable.Repeat((int)PieceType.Normal, tokens.Length).ToArray()
            : file.GetArray<int>("tokenizer.ggml.token_type");
        if (scores.Length != tokens.Length || types.Length != tokens.Length)
        {
            throw new GgufException(GgufError.BadShape, file.Location, "tokenizer.ggml.tokens",
                $"{tokens.Length} tokens but {scores.Length} scores and {types.Length} token types");
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
        return new SentencePieceBpeTokenizer(sp, Bool(file, "tokenizer.ggml.add_bos_token", true));
    }

    /// <summary>Writes <paramref name="model"/> as <c>tokenizer.ggml.*</c> metadata.</summary>
    public static void Write(GgufWriter writer, SentencePieceModel model, bool addBos)
    {
        writer.Add("tokenizer.ggml.model", SentencePieceModelName);
        writer.Add("tokenizer.ggml.tokens", model.Pieces);
        writer.Add("tokenizer.ggml.scores", model.Scores);
        writer.Add("tokenizer.ggml.token_type", model.Types.Select(t => (int)t).ToArray());
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
