namespace QuantSharp.Tokenizers;

/// <summary>
/// The vocabulary-specific core of a tokenizer: encodes one plain-text segment (no added or special tokens in it) and
/// turns single ids back into bytes. <see cref="Tokenizer"/> adds everything around it (added tokens, BOS/EOS
/// templates, streaming, chat templates), so a new vocabulary kind is one implementation of this interface.
/// </summary>
internal interface ITokenModel
{
    /// <summary>Ids 0 … VocabSize − 1 belong to the model's vocabulary.</summary>
    int VocabSize { get; }

    /// <summary>Appends the ids of <paramref name="text"/>, normalized and pre-tokenized as the vocabulary requires;
    /// <paramref name="atStart"/> is false for a segment that follows an added token (Metaspace's <c>prepend_scheme: first</c>).</summary>
    void Encode(string text, List<int> ids, bool atStart = true);

    /// <summary>The vocabulary entry of <paramref name="id"/> as stored (e.g. "Ġthe", "▁the", "##s"), or null.</summary>
    string? TokenText(int id);

    /// <summary>The id of a vocabulary entry as stored, or null.</summary>
    int? IdOf(string token);

    /// <summary>Whether the vocabulary marks <paramref name="id"/> as a control token (BOS/EOS/PAD) that decoding drops.</summary>
    bool IsControl(int id);

    /// <summary>Appends the UTF-8 bytes that <paramref name="id"/> decodes to; <paramref name="first"/> is true for the first
    /// token of a decoded sequence (SentencePiece drops its leading space, WordPiece its separator).</summary>
    void AppendBytes(int id, bool first, List<byte> destination);
}
