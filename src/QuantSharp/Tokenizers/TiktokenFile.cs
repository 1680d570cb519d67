using System.Globalization;

namespace QuantSharp.Tokenizers;

/// <summary>
/// tiktoken's vocabulary format (Llama 3, GLM-4 <c>tokenizer.model</c>): one <c>base64(token bytes) rank</c> line per
/// token, the rank being the id and the merge priority. Recognised by content, since SentencePiece models share the name.
/// </summary>
internal static class TiktokenFile
{
    /// <summary>Whether the file starts like a tiktoken vocabulary (a base64 word, a space, a number).</summary>
    public static bool Looks(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> head = stackalloc byte[256];
        int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..n];
        int newline = head.IndexOf((byte)'\n');
        ReadOnlySpan<byte> line = newline >= 0 ? head[..newline] : head;
        int space = line.IndexOf((byte)' ');
        if (space <= 0 || space == line.Length - 1)
        {
            return false;
        }

        foreach (byte b in line[..space])
        {
            if (!(b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9' or (byte)'+' or (byte)'/' or (byte)'='))
            {
                return false;
            }
        }

        foreach (byte b in line[(space + 1)..].TrimEnd((byte)'\r'))
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Reads the tokens (byte-alphabet strings, see <see cref="ByteLevelAlphabet"/>) by rank.</summary>
    /// <exception cref="QuantSharpException">A malformed line, a duplicate or out-of-range rank.</exception>
    public static string?[] Read(string path)
    {
        var entries = new List<(int Rank, string Token)>();
        int lineNumber = 0, maxRank = -1;
        long fileBytes = new FileInfo(path).Length;
        foreach (string raw in File.ReadLines(path))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            int space = line.IndexOf(' ', StringComparison.Ordinal);
            byte[] bytes;
            if (space <= 0 || !int.TryParse(line.AsSpan(space + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int rank))
            {
                throw new QuantSharpException($"{path}: line {lineNumber} is not 'base64 rank'");
            }

            try
            {
                bytes = Convert.FromBase64String(line[..space]);
            }
            catch (FormatException)
            {
                throw new QuantSharpException($"{path}: line {lineNumber}: '{line[..Math.Min(space, 40)]}' is not base64");
            }

            if (rank > fileBytes)
            {
                throw new QuantSharpException($"{path}: line {lineNumber}: rank {rank} is larger than the file could hold");
            }

            entries.Add((rank, ByteLevelAlphabet.Encode(bytes)));
            maxRank = Math.Max(maxRank, rank);
        }

        var tokens = new string?[maxRank + 1];
        foreach ((int rank, string token) in entries)
        {
            if (tokens[rank] is not null)
            {
                throw new QuantSharpException($"{path}: rank {rank} appears twice");
            }

            tokens[rank] = token;
        }

        return tokens;
    }
}
