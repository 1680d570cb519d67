namespace QuantSharp.Tokenizers;

/// <summary>Tokens by id and ids by token text (looked up by span, so hot loops do not build strings); the first id of a
/// duplicated text wins, empty or missing entries are never found.</summary>
internal sealed class TokenVocabulary
{
    private readonly string[] _tokens;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _ids;

    /// <summary>Builds the vocabulary from tokens by id (null for an unused id).</summary>
    public TokenVocabulary(IReadOnlyList<string?> tokens)
    {
        _tokens = new string[tokens.Count];
        var ids = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++)
        {
            _tokens[i] = tokens[i] ?? "";
            if (_tokens[i].Length > 0)
            {
                ids.TryAdd(_tokens[i], i);
            }

            Longest = Math.Max(Longest, _tokens[i].Length);
        }

        _ids = ids.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Number of ids.</summary>
    public int Count => _tokens.Length;

    /// <summary>Length of the longest token text.</summary>
    public int Longest { get; }

    /// <summary>The text of <paramref name="id"/>, or null outside the vocabulary.</summary>
    public string? Text(int id) => (uint)id < (uint)_tokens.Length ? _tokens[id] : null;

    /// <summary>The id of <paramref name="text"/>, if it is a token.</summary>
    public bool TryGetId(ReadOnlySpan<char> text, out int id) => _ids.TryGetValue(text, out id);

    /// <summary>The id of <paramref name="text"/>, or null.</summary>
    public int? IdOf(string text) => _ids.TryGetValue(text, out int id) ? id : null;
}
