using System.Runtime.InteropServices;

namespace QuantSharp.Models;

/// <summary>Options for <see cref="TextEncoder"/>.</summary>
public sealed record TextEncoderOptions
{
    /// <summary>Which hidden state to return, in Hugging Face's <c>hidden_states</c> indexing: 0 is the embedding output,
    /// i the output of block i, negative counts from the end (−1 the last entry, −2 the one before; Kolors uses −2).</summary>
    public int Layer { get; init; } = -2;

    /// <summary>Pad on the left to this many positions (0: no padding, the output has one row per token).</summary>
    public int PadToLength { get; init; }

    /// <summary>Token id of the pads; default the config's <c>pad_token_id</c>, else 0.</summary>
    public int? PadId { get; init; }
}

/// <summary>
/// Runs a decoder as a text encoder: the hidden states of one layer for every position, as the Kolors pipeline takes
/// them from ChatGLM3 (<c>hidden_states[-2]</c>, left-padded to 256 tokens).
/// </summary>
/// <remarks>
/// Left padding follows the reference tokenizer and model: pads come first with position id 0, real tokens get
/// position ids 0..n−1, real query rows attend causally and never to pads, and pad query rows attend as the
/// architecture's reference code does (for GLM: to every key, later ones included), so pad rows match it too.
/// </remarks>
public sealed class TextEncoder
{
    private readonly TransformerModel _model;

    /// <summary>Creates an encoder over <paramref name="model"/> (the model stays owned by the caller).</summary>
    public TextEncoder(TransformerModel model) => _model = model;

    /// <summary>Floats per output row (the hidden size).</summary>
    public int Width => _model.Config.HiddenSize;

    /// <summary>Rows the output has for <paramref name="tokenCount"/> tokens.</summary>
    /// <exception cref="QuantSharpException">No tokens, more tokens than the pad length, or longer than the model's context.</exception>
    public int Rows(int tokenCount, TextEncoderOptions options)
    {
        if (tokenCount <= 0)
        {
            throw new QuantSharpException("nothing to encode: the token sequence is empty");
        }

        if (options.PadToLength < 0)
        {
            throw new QuantSharpException($"pad length {options.PadToLength} must not be negative");
        }

        if (options.PadToLength > 0 && tokenCount > options.PadToLength)
        {
            throw new QuantSharpException($"{tokenCount} tokens do not fit the pad length of {options.PadToLength}");
        }

        int rows = Math.Max(tokenCount, options.PadToLength);
        if (rows > _model.Config.MaxPositions)
        {
            throw new QuantSharpException($"{rows} positions exceed the model's context of {_model.Config.MaxPositions}");
        }

        return rows;
    }

    /// <summary>The index into <c>hidden_states</c> (0..Layers) that <paramref name="layer"/> names.</summary>
    /// <exception cref="QuantSharpException">Outside −(Layers+1)..Layers.</exception>
    public int ResolveLayer(int layer)
    {
        int count = _model.Config.Layers + 1;
        if (layer < -count || layer >= count)
        {
            throw new QuantSharpException($"layer {layer} is out of range: this model has {count} hidden states (0..{count - 1}, or -{count}..-1 from the end)");
        }

        return layer < 0 ? layer + count : layer;
    }

    /// <summary>Encodes <paramref name="ids"/>; returns [<see cref="Rows"/>, <see cref="Width"/>], row r for position r
    /// (pads first).</summary>
    /// <exception cref="QuantSharpException">Bad ids, layer or lengths.</exception>
    public float[,] Encode(ReadOnlySpan<int> ids, TextEncoderOptions options)
    {
        var result = new float[Rows(ids.Length, options), Width];
        Encode(ids, options, MemoryMarshal.CreateSpan(ref result[0, 0], result.Length));
        return result;
    }

    /// <summary>Encodes <paramref name="ids"/> into <paramref name="destination"/>, row-major
    /// [<see cref="Rows"/>, <see cref="Width"/>], row r for position r (pads first).</summary>
    /// <exception cref="QuantSharpException">Bad ids, layer or lengths.</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    public void Encode(ReadOnlySpan<int> ids, TextEncoderOptions options, Span<float> destination)
    {
        ModelConfig c = _model.Config;
        int rows = Rows(ids.Length, options);
        int index = ResolveLayer(options.Layer);
        int width = Width;
        if (destination.Length < (long)rows * width)
        {
            throw new ArgumentException($"destination holds {destination.Length} floats; {rows} × {width} are needed", nameof(destination));
        }

        int pads = rows - ids.Length;
        int[] input = new int[rows];
        Array.Fill(input, options.PadId ?? c.PadTokenId ?? 0, 0, pads);
        ids.CopyTo(input.AsSpan(pads));

        // Pad rows may attend to later keys, so the whole sequence goes through in one batch.
        using var session = new InferenceSession(_model, rows, maxBatch: rows) { KeyStart = pads };
        float[] captured = new float[rows * width];
        bool seen = false;
        session.HiddenStateObserver = (i, states, n) =>
        {
            if (i == index)
            {
                states[..(n * width)].CopyTo(captured);
                seen = true;
            }
        };
        session.Forward(input, new float[c.VocabSize]);
        if (!seen)
        {
            throw new InvalidOperationException($"hidden state {index} was not produced");
        }

        captured.CopyTo(destination);
    }
}
