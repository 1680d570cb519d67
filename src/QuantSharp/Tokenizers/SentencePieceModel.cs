using System.Text;

namespace QuantSharp.Tokenizers;

/// <summary>Kinds of SentencePiece vocabulary entries (sentencepiece_model.proto).</summary>
public enum PieceType
{
    /// <summary>An ordinary piece.</summary>
    Normal = 1,
    /// <summary>The unknown token.</summary>
    Unknown = 2,
    /// <summary>A control token (BOS, EOS, PAD).</summary>
    Control = 3,
    /// <summary>A user-defined symbol, always matched whole.</summary>
    UserDefined = 4,
    /// <summary>An unused piece.</summary>
    Unused = 5,
    /// <summary>A byte-fallback piece <c>&lt;0xNN&gt;</c>.</summary>
    Byte = 6,
}

/// <summary>The parts of a SentencePiece <c>ModelProto</c> an encoder needs: pieces with scores and types, special ids and
/// normalizer switches. Parsed directly from the protobuf wire format (fields 1 pieces, 2 trainer spec, 3 normalizer spec).</summary>
public sealed class SentencePieceModel
{
    /// <summary>Pieces by id.</summary>
    public required string[] Pieces { get; init; }

    /// <summary>Scores by id (merge priority for BPE).</summary>
    public required float[] Scores { get; init; }

    /// <summary>Types by id.</summary>
    public required PieceType[] Types { get; init; }

    /// <summary>1 = unigram, 2 = BPE.</summary>
    public int ModelType { get; init; } = 1;

    /// <summary>Unknown bytes become &lt;0xNN&gt; pieces.</summary>
    public bool ByteFallback { get; init; }

    /// <summary>Unknown token id.</summary>
    public int UnkId { get; init; }

    /// <summary>BOS id, or -1.</summary>
    public int BosId { get; init; } = 1;

    /// <summary>EOS id, or -1.</summary>
    public int EosId { get; init; } = 2;

    /// <summary>Prepend "▁" to the text.</summary>
    public bool AddDummyPrefix { get; init; } = true;

    /// <summary>Strip leading/trailing spaces and collapse runs of spaces.</summary>
    public bool RemoveExtraWhitespaces { get; init; } = true;

    /// <summary>Normalizer rule name ("identity", "nmt_nfkc", …).</summary>
    public string NormalizerName { get; init; } = "identity";

    /// <summary>Parses a <c>tokenizer.model</c> file.</summary>
    /// <exception cref="QuantSharpException">The bytes are not a SentencePiece model.</exception>
    public static SentencePieceModel Load(string path)
    {
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is InvalidDataException or IndexOutOfRangeException or ArgumentException or OverflowException)
        {
            throw new QuantSharpException($"{path}: not a SentencePiece tokenizer model ({e.Message})", e);
        }
    }

    /// <summary>Parses a serialized ModelProto.</summary>
    public static SentencePieceModel Parse(ReadOnlySpan<byte> data)
    {
        var pieces = new List<string>();
        var scores = new List<float>();
        var types = new List<PieceType>();
        int modelType = 1, unk = 0, bos = 1, eos = 2;
        bool byteFallback = false, dummy = true, removeExtra = true;
        string normName = "identity";
        var reader = new ProtoReader(data);
        while (reader.Next(out int field, out int wire))
        {
            if (field == 1 && wire == 2)
            {
                var piece = new ProtoReader(reader.Bytes());
                string text = "";
                float score = 0;
                PieceType type = PieceType.Normal;
                while (piece.Next(out int f, out int w))
                {
                    if (f == 1 && w == 2) text = Encoding.UTF8.GetString(piece.Bytes());
                    else if (f == 2 && w == 5) score = piece.Fixed32Float();
                    else if (f == 3 && w == 0) type = (PieceType)(int)piece.Varint();
                    else piece.Skip(w);
                }

                pieces.Add(text);
                scores.Add(score);
                types.Add(type);
            }
            else if (field == 2 && wire == 2)
            {
                var spec = new ProtoReader(reader.Bytes());
                while (spec.Next(out int f, out int w))
                {
                    if (w == 0 && f is 3 or 35 or 40 or 41 or 42)
                    {
                        long v = (long)spec.Varint();
                        switch (f)
                        {
                            case 3: modelType = (int)v; break;
                            case 35: byteFallback = v != 0; break;
                            case 40: unk = (int)v; break;
                            case 41: bos = (int)v; break;
                            case 42: eos = (int)v; break;
                        }
                    }
                    else
                    {
                        spec.Skip(w);
                    }
                }
            }
            else if (field == 3 && wire == 2)
            {
                var spec = new ProtoReader(reader.Bytes());
                while (spec.Next(out int f, out int w))
                {
                    if (f == 1 && w == 2) normName = Encoding.UTF8.GetString(spec.Bytes());
                    else if (f == 3 && w == 0) dummy = spec.Varint() != 0;
                    else if (f == 4 && w == 0) removeExtra = spec.Varint() != 0;
                    else spec.Skip(w);
                }
            }
            else
            {
                reader.Skip(wire);
            }
        }

        if (pieces.Count == 0)
        {
            throw new InvalidDataException("no pieces");
        }

        return new SentencePieceModel
        {
            Pieces = pieces.ToArray(),
            Scores = scores.ToArray(),
            Types = types.ToArray(),
            ModelType = modelType,
            ByteFallback = byteFallback,
            UnkId = unk,
            BosId = bos,
            EosId = eos,
            AddDummyPrefix = dummy,
            RemoveExtraWhitespaces = removeExtra,
            NormalizerName = normName,
        };
    }

    private ref struct ProtoReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public bool Next(out int field, out int wire)
        {
            if (_pos >= _data.Length)
            {
                field = wire = 0;
                return false;
            }

            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong result = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = _data[_pos++];
                result |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return result;
                }
            }

            throw new InvalidDataException("varint too long");
        }

        public ReadOnlySpan<byte> Bytes()
        {
            int length = checked((int)Varint());
            if (length < 0 || _pos + length > _data.Length)
            {
                throw new InvalidDataException("length-delimited field runs past the end");
            }

            ReadOnlySpan<byte> s = _data.Slice(_pos, length);
            _pos += length;
            return s;
        }

        public float Fixed32Float()
        {
            float v = BitConverter.ToSingle(_data.Slice(_pos, 4));
            _pos += 4;
            return v;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _pos += 8; break;
                case 2: Bytes(); break;
                case 5: _pos += 4; break;
                default: throw new InvalidDataException($"unsupported wire type {wire}");
            }

            if (_pos > _data.Length)
            {
                throw new InvalidDataException("field runs past the end");
            }
        }
    }
}
