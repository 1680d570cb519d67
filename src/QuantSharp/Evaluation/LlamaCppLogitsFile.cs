using System.Buffers.Binary;

namespace QuantSharp.Evaluation;

/// <summary>
/// The logits file of llama.cpp's <c>llama-perplexity --kl-divergence-base</c>: <c>_logits_</c>, int32 n_ctx, n_vocab
/// and n_chunk, the n_chunk · n_ctx int32 tokens of the text, then for every scored position (ctx − 1 − ctx/2 per
/// chunk) one record of 2·⌈n_vocab/2⌉ + 4 uint16: float32 scale and float32 minimum log-probability, then every
/// token's log-probability as <c>min + scale · code</c> over the 16 nats below the top logit (code 0 below that).
/// </summary>
public static class LlamaCppLogitsFile
{
    private static ReadOnlySpan<byte> Magic => "_logits_"u8;

    /// <summary>uint16 values per scored position.</summary>
    public static int RecordLength(int vocab) => (2 * ((vocab + 1) / 2)) + 4;

    /// <summary>Writes the header: magic, n_ctx, n_vocab, n_chunk and the tokens of all chunks.</summary>
    public static void WriteHeader(Stream stream, int context, int vocab, int chunks, ReadOnlySpan<int> tokens)
    {
        stream.Write(Magic);
        Span<byte> word = stackalloc byte[4];
        foreach (int v in new[] { context, vocab, chunks })
        {
            BinaryPrimitives.WriteInt32LittleEndian(word, v);
            stream.Write(word);
        }

        for (int i = 0; i < chunks * context; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(word, tokens[i]);
            stream.Write(word);
        }
    }

    /// <summary>Encodes one position's logits into <paramref name="record"/> (<see cref="RecordLength"/> values) as
    /// llama.cpp does, and returns the negative log-likelihood of <paramref name="target"/>.</summary>
    public static double Encode(ReadOnlySpan<float> logits, int target, Span<ushort> record)
    {
        float max = logits[0], min = logits[0];
        foreach (float l in logits)
        {
            max = Math.Max(max, l);
            min = Math.Min(min, l);
        }

        min = Math.Max(min, max - 16);
        double sumExp = 0;
        foreach (float l in logits)
        {
            sumExp += MathF.Exp(l - max);
        }

        float logSumExp = (float)Math.Log(sumExp);
        float minLogProb = min - max - logSumExp;
        float scale = (max - min) / 65535f;
        BinaryPrimitives.WriteSingleLittleEndian(System.Runtime.InteropServices.MemoryMarshal.AsBytes(record[..2]), scale);
        BinaryPrimitives.WriteSingleLittleEndian(System.Runtime.InteropServices.MemoryMarshal.AsBytes(record.Slice(2, 2)), minLogProb);
        Span<ushort> codes = record[4..];
        codes.Clear();
        if (scale != 0)
        {
            float inv = 1 / scale;
            for (int i = 0; i < logits.Length; i++)
            {
                codes[i] = logits[i] > min ? (ushort)MathF.Round(inv * (logits[i] - min), MidpointRounding.ToEven) : (ushort)0;
            }
        }

        return max + logSumExp - logits[target];
    }

    /// <summary>A logits file read back: its header and the records of every scored position.</summary>
    /// <param name="Context">n_ctx.</param>
    /// <param name="Vocab">n_vocab.</param>
    /// <param name="Chunks">n_chunk.</param>
    /// <param name="Tokens">The text's tokens (n_chunk · n_ctx).</param>
    /// <param name="Records">Per chunk, per scored position, <see cref="RecordLength"/> values.</param>
    public sealed record Contents(int Context, int Vocab, int Chunks, int[] Tokens, ushort[] Records)
    {
        /// <summary>Log-probability of token <paramref name="token"/> at scored position <paramref name="position"/> (over all chunks).</summary>
        public float LogProb(long position, int token)
        {
            int n = RecordLength(Vocab);
            ReadOnlySpan<ushort> r = Records.AsSpan((int)(position * n), n);
            float scale = BitConverter.Int32BitsToSingle(r[0] | (r[1] << 16));
            float min = BitConverter.Int32BitsToSingle(r[2] | (r[3] << 16));
            return (scale * r[4 + token]) + min;
        }
    }

    /// <summary>Reads a file written by <c>llama-perplexity --kl-divergence-base</c> (or <see cref="WriteHeader"/>/<see cref="Encode"/>).</summary>
    /// <exception cref="QuantSharpException">Not such a file, or sizes that do not add up.</exception>
    public static Contents Read(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        if (data.Length < 20 || !data.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new QuantSharpException($"{path}: not a llama.cpp logits file (no _logits_ magic)");
        }

        int ctx = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(8)), vocab = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(12)), chunks = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(16));
        if (ctx < 2 || vocab < 1 || chunks < 1)
        {
            throw new QuantSharpException($"{path}: header n_ctx {ctx}, n_vocab {vocab}, n_chunk {chunks} is not valid");
        }

        long tokenBytes = 4L * chunks * ctx;
        long scored = (long)chunks * (ctx - 1 - (ctx / 2));
        long recordBytes = 2L * scored * RecordLength(vocab);
        if (20 + tokenBytes + recordBytes != data.Length)
        {
            throw new QuantSharpException($"{path}: {data.Length} bytes, but n_ctx {ctx}, n_vocab {vocab}, n_chunk {chunks} need {20 + tokenBytes + recordBytes}");
        }

        int[] tokens = new int[chunks * ctx];
        for (int i = 0; i < tokens.Length; i++)
        {
            tokens[i] = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(20 + (4 * i)));
        }

        ushort[] records = new ushort[recordBytes / 2];
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(data.AsSpan((int)(20 + tokenBytes))).CopyTo(records);
        return new Contents(ctx, vocab, chunks, tokens, records);
    }
}
