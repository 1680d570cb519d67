namespace QuantSharp.Tokenizers;

/// <summary>An <see cref="ITokenModel"/> over a table of vocabulary entries by id: the lookups every vocabulary kind
/// shares (BPE, WordPiece); a kind adds its encoding and decoding.</summary>
internal abstract class VocabularyModel : ITokenModel
{
    /// <summary>Builds the table from the entries by id (null for unused ids).</summary>
    protected VocabularyModel(IReadOnlyList<string?> tokens) => Vocab = new TokenVocabulary(tokens);

    /// <summary>Ids that decoding drops (control tokens of the vocabulary: BOS/EOS/PAD, [CLS], [SEP], …).</summary>
    public IReadOnlySet<int> ControlIds { get; init; } = new HashSet<int>();

    /// <inheritdoc />
    public int VocabSize => Vocab.Count;

    /// <summary>The entries by id.</summary>
    protected TokenVocabulary Vocab { get; }

    /// <inheritdoc />
    public string? TokenText(int id) => Vocab.Text(id);

    /// <inheritdoc />
    public int? IdOf(string token) => Vocab.IdOf(token);

    /// <inheritdoc />
    public bool IsControl(int id) => ControlIds.Contains(id);

    /// <inheritdoc />
    public abstract void Encode(string text, List<int> ids, bool atStart = true);

    /// <inheritdoc />
    public abstract void AppendBytes(int id, bool first, List<byte> destination);
}
