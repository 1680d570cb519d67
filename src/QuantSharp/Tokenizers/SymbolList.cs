namespace QuantSharp.Tokenizers;

/// <summary>
/// The symbols of one word during BPE: [start, start + length) ranges of the word in a doubly linked list, merged pair
/// by pair, always the adjacent pair with the lowest priority value first (the leftmost among equals), until no pair
/// can merge. Shared by SentencePiece BPE (priority = −score of the merged piece) and byte-level BPE / tiktoken
/// (priority = merge rank or token rank).
/// </summary>
internal sealed class SymbolList
{
    private readonly int[] _start;
    private readonly int[] _length;
    private readonly int[] _prev;
    private readonly int[] _next;

    /// <summary>Room for <paramref name="capacity"/> symbols (the word's length suffices).</summary>
    public SymbolList(int capacity)
    {
        _start = new int[capacity];
        _length = new int[capacity];
        _prev = new int[capacity];
        _next = new int[capacity];
    }

    /// <summary>Symbols added so far (merged-away ones included).</summary>
    public int Count { get; private set; }

    /// <summary>Start of symbol <paramref name="s"/> in the word.</summary>
    public int Start(int s) => _start[s];

    /// <summary>Length of symbol <paramref name="s"/> (0 once merged away).</summary>
    public int Length(int s) => _length[s];

    /// <summary>The symbol after <paramref name="s"/>, or -1.</summary>
    public int Next(int s) => _next[s];

    /// <summary>The first symbol, or -1 when there is none.</summary>
    public int First => Count > 0 ? 0 : -1;

    /// <summary>Appends the symbol [start, start + length).</summary>
    public void Add(int start, int length)
    {
        int s = Count++;
        _start[s] = start;
        _length[s] = length;
        _prev[s] = s - 1;
        _next[s] = -1;
        if (s > 0)
        {
            _next[s - 1] = s;
        }
    }

    /// <summary>Merges until no adjacent pair has a priority; <paramref name="priority"/>(left, right) returns the pair's
    /// priority (lower merges first) or null when the two cannot merge.</summary>
    public void MergeAll(Func<int, int, double?> priority)
    {
        var queue = new PriorityQueue<(int Left, int Right, int Length), (double Priority, int Start)>();
        void TryQueue(int left, int right)
        {
            if (left >= 0 && right >= 0 && priority(left, right) is double p)
            {
                queue.Enqueue((left, right, _length[left] + _length[right]), (p, _start[left]));
            }
        }

        for (int i = 0; i + 1 < Count; i++)
        {
            TryQueue(i, i + 1);
        }

        while (queue.TryDequeue(out var pair, out _))
        {
            // Stale entries: a side was merged away or grew since the pair was queued.
            if (_length[pair.Left] == 0 || _length[pair.Right] == 0 || _next[pair.Left] != pair.Right || _length[pair.Left] + _length[pair.Right] != pair.Length)
            {
                continue;
            }

            _length[pair.Left] = pair.Length;
            _length[pair.Right] = 0;
            _next[pair.Left] = _next[pair.Right];
            if (_next[pair.Right] >= 0)
            {
                _prev[_next[pair.Right]] = pair.Left;
            }

            TryQueue(_prev[pair.Left], pair.Left);
            TryQueue(pair.Left, _next[pair.Left]);
        }
    }
}
