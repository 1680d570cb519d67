using System.Text;

namespace QuantSharp.Tokenizers;

/// <summary>
/// SentencePiece BPE encoding, as sentencepiece's <c>bpe_model.cc</c> does it: normalize (spaces → "▁", dummy prefix),
/// split into code points (user-defined symbols kept whole), then repeatedly merge the adjacent pair whose merged piece
/// has the highest score, the leftmost pair first among equal scores; pieces not in the vocabulary fall back to
/// &lt;0xNN&gt; byte pieces. Works from a <c>tokenizer.model</c> or from GGUF's <c>tokenizer.ggml.*</c> arrays.
/// </summary>
/// <remarks>Microsoft.ML.Tokenizers 2.0.1's LlamaTokenizer breaks ties between equal-score merges differently
/// (2 of llama.cpp's 47 Llama-SPM vectors and one token of wiki.test.raw differ), so encoding is done here.</remarks>
public sealed class SentencePieceBpeTokenizer : ITokenModel
{
    private const char Space = '\u2581';
    private readonly SentencePieceModel _model;
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int[] _byteIds = new int[256];
    private readonly Dictionary<int, byte> _byteOfId = new();
    private readonly List<string> _userDefined = new();

    /// <summary>Builds the encoder from a parsed model.</summary>
    public SentencePieceBpeTokenizer(SentencePieceModel model)
    {
        _model = model;
        Array.Fill(_byteIds, -1);
        for (int i = 0; i < model.Pieces.Length; i++)
        {
            string p = model.Pieces[i];
            PieceType t = model.Types[i];
            if (t == PieceType.Byte)
            {
                // A byte piece that is not <0xNN> would decode to nothing sensible: refuse the vocabulary.
                _byteIds[ByteOf(p) ?? throw new QuantSharpException($"SentencePiece vocabulary: byte piece {i} is '{p}', not <0xNN>")] = i;
                _byteOfId[i] = (byte)ByteOf(p)!.Value;
                continue;
            }

            if (t is PieceType.Normal or PieceType.UserDefined or PieceType.Unused)
            {
                _ids.TryAdd(p, i);
            }

            if (t == PieceType.UserDefined && p.Length > 0)
            {
                _userDefined.Add(p);
            }
        }

        _userDefined.Sort((a, b) => b.Length.CompareTo(a.Length));
        _lookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    private static int? ByteOf(string piece) => piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece.EndsWith('>')
        && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b) ? b : null;

    /// <summary>The vocabulary and normalizer switches this encoder was built from.</summary>
    public SentencePieceModel Model => _model;

    /// <summary>Vocabulary size.</summary>
    public int VocabSize => _model.Pieces.Length;

    /// <summary>BOS id, or null.</summary>
    public int? BosId => _model.BosId >= 0 && _model.BosId < _model.Pieces.Length ? _model.BosId : null;

    /// <summary>EOS id, or null.</summary>
    public int? EosId => _model.EosId >= 0 && _model.EosId < _model.Pieces.Length ? _model.EosId : null;

    /// <summary>Loads <c>tokenizer.model</c> (whether BOS is added is <see cref="Tokenizer"/>'s business, from tokenizer_config.json).</summary>
    public static SentencePieceBpeTokenizer Load(string modelPath)
    {
        SentencePieceModel model = SentencePieceModel.Load(modelPath);
        if (model.ModelType != 2)
        {
            throw new QuantSharpException($"{modelPath}: SentencePiece model type {model.ModelType} is not BPE (2); only BPE models are supported");
        }

        return new SentencePieceBpeTokenizer(model);
    }

    /// <summary>The piece text of an id.</summary>
    public string Piece(int id) => _model.Pieces[id];

    /// <summary>Encodes text (no BOS, no special tokens).</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>();
        Encode(text, ids);
        return ids;
    }

    /// <inheritdoc />
    public void Encode(string text, List<int> ids, bool atStart = true)
    {
        if (text.Length == 0)
        {
            return;
        }

        string normalized = Normalize(text);
        if (normalized.Length == 0)
        {
            return;
        }

        int n = normalized.Length;
        var symbols = new SymbolList(n);
        var fixedSymbol = new bool[n];
        for (int i = 0; i < n;)
        {
            int len = char.IsHighSurrogate(normalized[i]) && i + 1 < n && char.IsLowSurrogate(normalized[i + 1]) ? 2 : 1;
            foreach (string u in _userDefined)
            {
                if (string.CompareOrdinal(normalized, i, u, 0, u.Length) == 0)
                {
                    len = u.Length;
                    fixedSymbol[symbols.Count] = true;
                    break;
                }
            }

            symbols.Add(i, len);
            i += len;
        }

        // Highest score first: priority = −score of the merged piece; user-defined symbols never merge.
        symbols.MergeAll((left, right) => !fixedSymbol[left] && !fixedSymbol[right]
            && _lookup.TryGetValue(normalized.AsSpan(symbols.Start(left), symbols.Length(left) + symbols.Length(right)), out int id)
            && _model.Types[id] != PieceType.UserDefined ? -(double)_model.Scores[id] : null);

        Span<byte> utf8 = stackalloc byte[16];
        for (int s = symbols.First; s >= 0; s = symbols.Next(s))
        {
            ReadOnlySpan<char> piece = normalized.AsSpan(symbols.Start(s), symbols.Length(s));
            if (_lookup.TryGetValue(piece, out int id))
            {
                ids.Add(id);
                continue;
            }

            if (_model.ByteFallback)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(piece.ToArray());
                foreach (byte b in bytes)
                {
                    ids.Add(_byteIds[b] >= 0 ? _byteIds[b] : _model.UnkId);
                }
            }
            else
            {
                ids.Add(_model.UnkId);
            }
        }
    }

    private string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length + 1);
        if (_model.RemoveExtraWhitespaces)
        {
            text = string.Join(' ', text.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            if (text.Length == 0)
            {
                return "";
            }
        }

        if (_model.AddDummyPrefix)
        {
            sb.Append(Space);
        }

        foreach (char ch in text)
        {
            sb.Append(ch == ' ' ? Space : ch);
        }

        return sb.ToString();
    }

    /// <summary>Decodes ids to text (control tokens dropped, the first token's dummy-prefix space removed).</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        bool first = true;
        foreach (int id in ids)
        {
            if ((uint)id < (uint)_model.Pieces.Length && !IsControl(id))
            {
                AppendBytes(id, first, bytes);
                first = false;
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <inheritdoc />
    public string? TokenText(int id) => (uint)id < (uint)_model.Pieces.Length ? _model.Pieces[id] : null;

    /// <inheritdoc />
    public int? IdOf(string token)
    {
        if (_lookup.TryGetValue(token, out int id))
        {
            return id;
        }

        int index = Array.IndexOf(_model.Pieces, token);
        return index >= 0 ? index : null;
    }

    /// <inheritdoc />
    public bool IsControl(int id) => (uint)id < (uint)_model.Pieces.Length
        && _model.Types[id] is PieceType.Control or PieceType.Unknown && id != _model.UnkId;

    /// <inheritdoc />
    public void AppendBytes(int id, bool first, List<byte> destination)
    {
        if ((uint)id >= (uint)_model.Pieces.Length)
        {
            return;
        }

        PieceType t = _model.Types[id];
        if (t == PieceType.Byte)
        {
            destination.Add(_byteOfId[id]);
            return;
        }

        string piece = t == PieceType.Unknown ? " \u2047 " : _model.Pieces[id].Replace(Space, ' ');
        if (first && _model.AddDummyPrefix && piece.StartsWith(' '))
        {
            piece = piece[1..];
        }

        destination.AddRange(Encoding.UTF8.GetBytes(piece));
    }
}
