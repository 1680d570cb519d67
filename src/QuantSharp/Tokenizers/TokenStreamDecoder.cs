using System.Text;

namespace QuantSharp.Tokenizers;

/// <summary>
/// Turns ids into text one at a time while generating: a character whose UTF-8 bytes are split over several tokens
/// (byte-fallback pieces, byte-level BPE) is returned only once it is complete, so streamed output never shows
/// broken characters and the concatenation of all returned strings equals <see cref="Tokenizer.Decode"/> of the ids.
/// </summary>
public sealed class TokenStreamDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _skipSpecial;
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private readonly List<byte> _bytes = new(32);
    private char[] _chars = new char[64];
    private bool _first = true;

    internal TokenStreamDecoder(Tokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecial = skipSpecialTokens;
    }

    /// <summary>The text that <paramref name="id"/> completes (may be empty while a character is incomplete).</summary>
    public string Push(int id)
    {
        _bytes.Clear();
        if (!_tokenizer.AppendBytes(id, _first, _skipSpecial, _bytes))
        {
            return "";
        }

        _first = false;
        return Convert(flush: false);
    }

    /// <summary>Whatever is left at the end of the stream (an incomplete character becomes U+FFFD).</summary>
    public string Flush()
    {
        _bytes.Clear();
        return Convert(flush: true);
    }

    private string Convert(bool flush)
    {
        ReadOnlySpan<byte> bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_bytes);
        int needed = _utf8.GetCharCount(bytes, flush: false) + 4;
        if (_chars.Length < needed)
        {
            _chars = new char[Math.Max(needed, _chars.Length * 2)];
        }

        int count = _utf8.GetChars(bytes, _chars, flush);
        return count == 0 ? "" : new string(_chars, 0, count);
    }
}
