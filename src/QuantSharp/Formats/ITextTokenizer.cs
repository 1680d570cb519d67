namespace QuantSharp.Formats;

/// <summary>Text ↔ token ids for a model.</summary>
public interface ITextTokenizer
{
    /// <summary>Beginning-of-sequence id, or null if the vocabulary has none.</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id, or null.</summary>
    int? EosId { get; }

    /// <summary>Whether prompts get a BOS by default (<c>add_bos_token</c>).</summary>
    bool AddBosByDefault { get; }

    /// <summary>Encodes text without special tokens.</summary>
    IReadOnlyList<int> Encode(string text);

    /// <summary>Decodes ids to text (special tokens dropped).</summary>
    string Decode(IEnumerable<int> ids);
}
