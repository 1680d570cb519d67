using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace QuantSharp.Tokenizers;

/// <summary>How a <see cref="BytePairModel"/> ranks the merge of two adjacent symbols.</summary>
internal enum MergeOrder
{
    /// <summary>By the position of the pair in a merges list (Hugging Face BPE, GGUF <c>tokenizer.ggml.merges</c>).</summary>
    MergesList,
    /// <summary>By the rank of the merged token (tiktoken: the token's id is its rank).</summary>
    TokenRank,
}

/// <summary>
/// Byte-pair encoding over a vocabulary of strings: each pre-tokenized piece starts as single characters and the
/// adjacent pair with the lowest rank is merged until none can be (leftmost first among equal ranks), as Hugging Face
/// tokenizers' BPE and tiktoken do. With <see cref="ByteLevel"/> pieces are first mapped to GPT-2's byte alphabet
/// (<see cref="ByteLevelAlphabet"/>), so every input is representable; otherwise unknown characters fall back to
/// <c>&lt;0xNN&gt;</c> byte tokens (<c>byte_fallback</c>) or the unknown token.
/// </summary>
internal sealed class BytePairModel : VocabularyModel
{
    private const int CacheLimit = 1 << 16;
    private readonly Dictionary<long, int>? _mergeRanks;
    private readonly int[] _byteTokens = new int[256];
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;

    /// <summary>Builds the model. <paramref name="tokens"/> holds the vocabulary by id (null for unused ids);
    /// <paramref name="merges"/> the merge list as token pairs (required for <see cref="MergeOrder.MergesList"/>).</summary>
    public BytePairModel(string?[] tokens, MergeOrder order, IEnumerable<(string Left, string Right)>? merges, bool byteLevel,
        PreTokenizer? preTokenizer, TextNormalizer? normalizer, string source)
        : base(tokens)
    {
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        Order = order;
        ByteLevel = byteLevel;
        PreTokenizer = preTokenizer;
        Normalizer = normalizer;
        if (order == MergeOrder.MergesList)
        {
            _mergeRanks = new Dictionary<long, int>();
            int rank = 0;
            foreach ((string left, string right) in merges ?? throw new ArgumentNullException(nameof(merges)))
            {
                if (Vocab.IdOf(left) is not int l || Vocab.IdOf(right) is not int r)
                {
                    throw new QuantSharpException($"{source}: merge {rank} ('{left}' '{right}') names a token that is not in the vocabulary");
                }

                _mergeRanks.TryAdd(((long)l << 32) | (uint)r, rank);
                rank++;
            }
        }

        Array.Fill(_byteTokens, -1);
        for (int b = 0; b < 256; b++)
        {
            if (Vocab.IdOf($"<0x{b:X2}>") is int id)
            {
                _byteTokens[b] = id;
            }
        }
    }

    /// <summary>How pairs are ranked.</summary>
    public MergeOrder Order { get; }

    /// <summary>Pieces are mapped to the byte alphabet before merging.</summary>
    public bool ByteLevel { get; }

    /// <summary>Splits text into pieces (null: the whole segment is one piece).</summary>
    public PreTokenizer? PreTokenizer { get; }

    /// <summary>Rewrites text before splitting (null: none).</summary>
    public TextNormalizer? Normalizer { get; }

    /// <summary>A piece that is a whole vocabulary entry is emitted as is, without merging (tiktoken always does this;
    /// Hugging Face's <c>ignore_merges</c>, set by Llama 3).</summary>
    public bool IgnoreMerges { get; init; }

    /// <summary>Characters outside the vocabulary become &lt;0xNN&gt; tokens.</summary>
    public bool ByteFallback { get; init; }

    /// <summary>The unknown token, if the vocabulary has one.</summary>
    public int? UnknownId { get; init; }

    /// <summary>Consecutive unknown tokens collapse into one (<c>fuse_unk</c>).</summary>
    public bool FuseUnknown { get; init; }

    /// <summary>Decoding turns '▁' into a space and drops the first token's leading space (SentencePiece-style BPE).</summary>
    public bool MetaspaceDecoding { get; init; }

    /// <inheritdoc />
    public override void Encode(string text, List<int> ids, bool atStart = true)
    {
        if (Normalizer is not null)
        {
            text = Normalizer.Normalize(text);
        }

        if (text.Length == 0)
        {
            return;
        }

        if (PreTokenizer is null)
        {
            EncodePiece(text, ids);
            return;
        }

        if (PreTokenizer.AsIsolatingSplitter is RegexSplitter splitter)
        {
            // The common case (one regex, every span kept): walk the match ranges without building strings.
            splitter.ForEachRange(text, (start, length, _) => EncodePiece(text.AsSpan(start, length), ids));
            return;
        }

        var pieces = new List<string>();
        PreTokenizer.Split(text, pieces, atStart);
        foreach (string piece in pieces)
        {
            EncodePiece(piece, ids);
        }
    }

    /// <summary>Encodes one pre-tokenized piece: maps it to the byte alphabet (byte-level models) in a stack or pooled
    /// buffer and looks the result up in the word cache before running the merges.</summary>
    private void EncodePiece(ReadOnlySpan<char> piece, List<int> ids)
    {
        char[]? rentedChars = null;
        byte[]? rentedBytes = null;
        try
        {
            scoped ReadOnlySpan<char> word = piece;
            if (ByteLevel)
            {
                int maxBytes = Encoding.UTF8.GetMaxByteCount(piece.Length);
                Span<byte> bytes = maxBytes <= 512 ? stackalloc byte[512] : (rentedBytes = ArrayPool<byte>.Shared.Rent(maxBytes));
                int n = Encoding.UTF8.GetBytes(piece, bytes);
                Span<char> chars = n <= 512 ? stackalloc char[512] : (rentedChars = ArrayPool<char>.Shared.Rent(n));
                for (int i = 0; i < n; i++)
                {
                    chars[i] = ByteLevelAlphabet.CharOf(bytes[i]);
                }

                word = chars[..n];
            }

            if (_cacheLookup.TryGetValue(word, out int[]? cached))
            {
                ids.AddRange(cached);
                return;
            }

            string key = word.ToString();
            int before = ids.Count;
            EncodeWord(key, ids);
            if (_cache.Count < CacheLimit && key.Length <= 64)
            {
                _cache.TryAdd(key, ids.GetRange(before, ids.Count - before).ToArray());
            }
        }
        finally
        {
            if (rentedChars is not null)
            {
                ArrayPool<char>.Shared.Return(rentedChars);
            }

            if (rentedBytes is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedBytes);
            }
        }
    }

    private void EncodeWord(string word, List<int> ids)
    {
        if ((IgnoreMerges || Order == MergeOrder.TokenRank) && Vocab.TryGetId(word, out int whole))
        {
            ids.Add(whole);
            return;
        }

        var symbols = new SymbolList(word.Length);
        for (int i = 0; i < word.Length;)
        {
            int len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            symbols.Add(i, len);
            i += len;
        }

        symbols.MergeAll((left, right) => Rank(word, symbols.Start(left), symbols.Length(left), symbols.Length(right)));
        bool lastUnknown = false;
        for (int s = symbols.First; s >= 0; s = symbols.Next(s))
        {
            ReadOnlySpan<char> symbol = word.AsSpan(symbols.Start(s), symbols.Length(s));
            if (Vocab.TryGetId(symbol, out int id))
            {
                ids.Add(id);
                lastUnknown = false;
                continue;
            }

            if (ByteFallback && TryAddBytes(symbol, ids))
            {
                lastUnknown = false;
                continue;
            }

            if (UnknownId is int unk && !(FuseUnknown && lastUnknown))
            {
                ids.Add(unk);
            }

            lastUnknown = true;
        }
    }

    private bool TryAddBytes(ReadOnlySpan<char> symbol, List<int> ids)
    {
        Span<byte> utf8 = stackalloc byte[8];
        int written = Encoding.UTF8.GetBytes(symbol, utf8);
        for (int i = 0; i < written; i++)
        {
            if (_byteTokens[utf8[i]] < 0)
            {
                return false;
            }
        }

        for (int i = 0; i < written; i++)
        {
            ids.Add(_byteTokens[utf8[i]]);
        }

        return true;
    }

    private int? Rank(string word, int start, int leftLength, int rightLength)
    {
        if (!Vocab.TryGetId(word.AsSpan(start, leftLength + rightLength), out int merged))
        {
            return null;
        }

        if (Order == MergeOrder.TokenRank)
        {
            return merged;
        }

        return Vocab.TryGetId(word.AsSpan(start, leftLength), out int l)
            && Vocab.TryGetId(word.AsSpan(start + leftLength, rightLength), out int r)
            && _mergeRanks!.TryGetValue(((long)l << 32) | (uint)r, out int rank) ? rank : null;
    }

    /// <inheritdoc />
    public override void AppendBytes(int id, bool first, List<byte> destination)
    {
        if (Vocab.Text(id) is not string token || IsControl(id))
        {
            return;
        }

        if (ByteLevel && ByteLevelAlphabet.TryDecode(token, destination))
        {
            return;
        }

        if (token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token.EndsWith('>')
            && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
        {
            destination.Add(b);
            return;
        }

        if (MetaspaceDecoding)
        {
            token = token.Replace('\u2581', ' ');
            if (first && token.StartsWith(' '))
            {
                token = token[1..];
            }
        }

        destination.AddRange(Encoding.UTF8.GetBytes(token));
    }
}
