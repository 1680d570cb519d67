using System.Text;

namespace QuantSharp.Tokenizers;

/// <summary>Which side <c>embed</c>/batching pads short sequences on (<c>padding_side</c> of tokenizer_config.json).</summary>
public enum PaddingSide
{
    /// <summary>Pads after the text (the transformers default).</summary>
    Right,
    /// <summary>Pads before the text (GLM, most decoder-only chat models).</summary>
    Left,
}

/// <summary>
/// Text ↔ token ids for a checkpoint: a vocabulary model (SentencePiece, byte-level BPE, tiktoken, WordPiece) plus
/// what the checkpoint's tokenizer files add around it — added/special tokens, the ids added to every encoded text
/// (BOS, <c>[gMASK] sop</c>, <c>[CLS] … [SEP]</c>), end-of-generation ids, padding and the chat template.
/// Load one with <see cref="TokenizerLoader"/>.
/// </summary>
/// <remarks>Special-token text in the input (<c>&lt;|im_end|&gt;</c>) stays text unless the caller passes
/// <c>parseSpecialTokens</c>: a user who types a control token must not be able to end a turn or impersonate a role.
/// Non-special added tokens are matched as Hugging Face does.</remarks>
public sealed class Tokenizer
{
    private readonly ITokenModel _model;
    private readonly AddedToken[] _added;
    private readonly Dictionary<int, AddedToken> _addedById = new();
    private readonly Dictionary<char, int[]> _addedLengthsByFirstChar;
    private readonly Dictionary<string, AddedToken>.AlternateLookup<ReadOnlySpan<char>> _addedByText;
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);

    internal Tokenizer(ITokenModel model, string kind, IEnumerable<AddedToken> added, TokenizerSettings settings)
    {
        _model = model;
        Kind = kind;
        _added = added.Where(t => t.Content.Length > 0).ToArray();
        foreach (AddedToken t in _added)
        {
            _addedById[t.Id] = t;
            _addedByContent.TryAdd(t.Content, t.Id);
        }

        // Matching looks up each candidate length once per position, so thousands of added tokens ([PAD12345] …)
        // cost a few dictionary probes, not thousands of comparisons.
        var matchable = _added.Where(t => t.MatchedInText).ToArray();
        _addedLengthsByFirstChar = matchable.GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.Select(t => t.Content.Length).Distinct().OrderDescending().ToArray());
        var byText = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (AddedToken t in matchable)
        {
            byText.TryAdd(t.Content, t);
        }

        _addedByText = byText.GetAlternateLookup<ReadOnlySpan<char>>();
        VocabSize = Math.Max(model.VocabSize, _added.Length == 0 ? 0 : _added.Max(t => t.Id) + 1);
        Prefix = settings.Prefix;
        Suffix = settings.Suffix;
        BosId = settings.BosId;
        EosId = settings.EosId;
        EosIds = settings.EosIds.Count > 0 ? settings.EosIds : EosId is int e ? [e] : [];
        PadId = settings.PadId;
        PaddingSide = settings.PaddingSide;
        ChatTemplate = settings.ChatTemplate;
        HasChatGlm3Format = settings.ChatGlm3Format;
        BosToken = settings.BosToken ?? (BosId is int b ? TokenToString(b) : null);
        EosToken = settings.EosToken ?? (EosId is int eos ? TokenToString(eos) : null);
    }

    /// <summary>What kind of vocabulary this is and where it came from (e.g. "tiktoken (tokenizer.model)").</summary>
    public string Kind { get; }

    /// <summary>Number of ids (vocabulary plus added tokens).</summary>
    public int VocabSize { get; }

    /// <summary>Ids put before an encoded text when special tokens are added (BOS; <c>[gMASK] sop</c>; <c>[CLS]</c>).</summary>
    public IReadOnlyList<int> Prefix { get; }

    /// <summary>Ids put after an encoded text when special tokens are added (EOS where configured; <c>[SEP]</c>).</summary>
    public IReadOnlyList<int> Suffix { get; }

    /// <summary>Beginning-of-sequence id, or null if the vocabulary has none.</summary>
    public int? BosId { get; }

    /// <summary>End-of-sequence id, or null.</summary>
    public int? EosId { get; }

    /// <summary>Every id that ends generation (EOS, <c>&lt;|eot_id|&gt;</c>, <c>&lt;|user|&gt;</c> …).</summary>
    public IReadOnlyList<int> EosIds { get; }

    /// <summary>Padding id, or null.</summary>
    public int? PadId { get; }

    /// <summary>Which side batches are padded on.</summary>
    public PaddingSide PaddingSide { get; }

    /// <summary>The checkpoint's Jinja chat template, or null (ChatGLM3 has a built-in format instead).</summary>
    public string? ChatTemplate { get; }

    /// <summary>ChatGLM3's chat format (built from ids, no Jinja template): <c>&lt;|role|&gt;</c>, "\n" and the text per turn.</summary>
    public bool HasChatGlm3Format { get; }

    /// <summary>The BOS token's text as chat templates see it (<c>bos_token</c>).</summary>
    public string? BosToken { get; }

    /// <summary>The EOS token's text as chat templates see it (<c>eos_token</c>).</summary>
    public string? EosToken { get; }

    /// <summary>Whether prompts get a BOS by default (<c>add_bos_token</c>).</summary>
    public bool AddBosByDefault => BosId is int b && Prefix.Contains(b);

    /// <summary>The added and special tokens.</summary>
    public IReadOnlyList<AddedToken> AddedTokens => _added;

    internal ITokenModel Model => _model;

    /// <summary>Encodes text without special tokens (no BOS, special-token text stays text).</summary>
    public int[] Encode(string text) => Encode(text, addSpecialTokens: false, parseSpecialTokens: false);

    /// <summary>Encodes <paramref name="text"/>.</summary>
    /// <param name="text">The text.</param>
    /// <param name="addSpecialTokens">Put <see cref="Prefix"/> before and <see cref="Suffix"/> after the ids, as
    /// transformers' <c>encode</c> does by default.</param>
    /// <param name="parseSpecialTokens">Turn special-token text (<c>&lt;|eot_id|&gt;</c>) into its id; off by default.</param>
    public int[] Encode(string text, bool addSpecialTokens, bool parseSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens)
        {
            ids.AddRange(Prefix);
        }

        EncodeSegments(text, parseSpecialTokens, ids);
        if (addSpecialTokens)
        {
            ids.AddRange(Suffix);
        }

        return ids.ToArray();
    }

    /// <summary>Encodes text rendered by a chat template: special tokens are parsed, and inside the plain segments
    /// <paramref name="restore"/> turns placeholders back into the message text they stand for (so special-token text
    /// that came from a message is encoded as text).</summary>
    internal int[] EncodeRendered(string text, Func<string, string> restore)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeSegments(text, parseSpecialTokens: true, ids, restore);
        return ids.ToArray();
    }

    internal void EncodeSegments(string text, bool parseSpecialTokens, List<int> ids, Func<string, string>? restore = null)
    {
        int segmentStart = 0;
        int i = 0;
        while (i < text.Length)
        {
            AddedToken? match = _addedLengthsByFirstChar.Count == 0 ? null : MatchAt(text, i, parseSpecialTokens);
            if (match is null)
            {
                i++;
                continue;
            }

            int end = i + match.Content.Length;
            int segmentEnd = i;
            if (match.LeftStrip)
            {
                while (segmentEnd > segmentStart && char.IsWhiteSpace(text[segmentEnd - 1]))
                {
                    segmentEnd--;
                }
            }

            EncodePlain(text[segmentStart..segmentEnd], ids, restore, segmentStart == 0);
            ids.Add(match.Id);
            if (match.RightStrip)
            {
                while (end < text.Length && char.IsWhiteSpace(text[end]))
                {
                    end++;
                }
            }

            segmentStart = i = end;
        }

        EncodePlain(text[segmentStart..], ids, restore, segmentStart == 0);
    }

    private AddedToken? MatchAt(string text, int index, bool parseSpecial)
    {
        if (!_addedLengthsByFirstChar.TryGetValue(text[index], out int[]? lengths))
        {
            return null;
        }

        foreach (int length in lengths)
        {
            if (index + length <= text.Length && _addedByText.TryGetValue(text.AsSpan(index, length), out AddedToken? t) && (parseSpecial || !t.Special))
            {
                return t;
            }
        }

        return null;
    }

    private void EncodePlain(string text, List<int> ids, Func<string, string>? restore, bool atStart)
    {
        if (restore is not null)
        {
            text = restore(text);
        }

        if (text.Length > 0)
        {
            _model.Encode(text, ids, atStart);
        }
    }

    /// <summary>Decodes ids to text; special tokens are dropped unless <paramref name="skipSpecialTokens"/> is false.
    /// Ids outside the vocabulary are ignored.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        bool first = true;
        foreach (int id in ids)
        {
            if (AppendBytes(id, first, skipSpecialTokens, bytes))
            {
                first = false;
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>A decoder for streaming generated ids as text.</summary>
    public TokenStreamDecoder CreateStreamDecoder(bool skipSpecialTokens = true) => new(this, skipSpecialTokens);

    /// <summary>Appends the bytes of one id; false if it produced nothing because it is skipped.</summary>
    internal bool AppendBytes(int id, bool first, bool skipSpecial, List<byte> bytes)
    {
        if (_addedById.TryGetValue(id, out AddedToken? added))
        {
            if (added.Special && skipSpecial)
            {
                return false;
            }

            bytes.AddRange(Encoding.UTF8.GetBytes(added.Content));
            return true;
        }

        if ((uint)id >= (uint)_model.VocabSize)
        {
            return false;
        }

        if (_model.IsControl(id))
        {
            if (skipSpecial)
            {
                return false;
            }

            bytes.AddRange(Encoding.UTF8.GetBytes(_model.TokenText(id) ?? ""));
            return true;
        }

        _model.AppendBytes(id, first, bytes);
        return true;
    }

    /// <summary>The vocabulary entry or added token of <paramref name="id"/> as stored ("Ġthe", "▁the", "&lt;|eot_id|&gt;"), or null.</summary>
    public string? TokenToString(int id) => _addedById.TryGetValue(id, out AddedToken? t) ? t.Content : _model.TokenText(id);

    /// <summary>The id of a vocabulary entry or added token as stored, or null.</summary>
    public int? TokenToId(string token) => _addedByContent.TryGetValue(token, out int id) ? id : _model.IdOf(token);

    /// <summary>Whether <paramref name="id"/> is a special (control) token.</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out AddedToken? t) ? t.Special : _model.IsControl(id);
}

/// <summary>What a checkpoint's tokenizer files add around the vocabulary model.</summary>
internal sealed class TokenizerSettings
{
    public IReadOnlyList<int> Prefix { get; init; } = [];

    public IReadOnlyList<int> Suffix { get; init; } = [];

    public int? BosId { get; init; }

    public int? EosId { get; init; }

    public IReadOnlyList<int> EosIds { get; init; } = [];

    public int? PadId { get; init; }

    public PaddingSide PaddingSide { get; init; }

    public string? ChatTemplate { get; init; }

    public bool ChatGlm3Format { get; init; }

    public string? BosToken { get; init; }

    public string? EosToken { get; init; }
}
