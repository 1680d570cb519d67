using System.Numerics.Tensors;
using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>Called with the input a linear layer is about to read: its full tensor name, tokens × Cols floats, and the token count.</summary>
public delegate void LinearInputObserver(string linearName, ReadOnlySpan<float> input, int tokens);

/// <summary>
/// Runs one transformer block at a time over the hidden states of a packed batch of sequences (each from position 0,
/// attending only within itself: causally for a decoder, to its whole sequence for an encoder; the same math as
/// <see cref="InferenceSession"/>, with its own one-layer KV cache), so calibration can walk a model block by block
/// and swap a block's linear layers between passes, and encoders can run many texts of different lengths in one
/// forward without padding. Optionally reports each linear layer's input, and can stop right after a given layer's
/// input has been seen.
/// </summary>
public sealed class BlockRunner : IDisposable
{
    private readonly ModelConfig _c;
    private readonly ArchitectureSpec _spec;
    private readonly RotaryEmbedding? _rope;
    private readonly KvCache _cache;
    private readonly BlockBuffers _b;

    /// <summary>Creates a runner for batches of up to <paramref name="maxTokens"/> tokens in all (each sequence at most
    /// the model's context).</summary>
    public BlockRunner(TransformerModel model, int maxTokens)
    {
        _c = model.Config;
        _spec = model.Spec;
        if (maxTokens < 1)
        {
            throw new QuantSharpException($"batch of {maxTokens} tokens: need at least 1");
        }

        MaxTokens = maxTokens;
        int rotaryDim = (int)(_c.HeadDim * _spec.RotaryFraction) / 2 * 2;
        _rope = _spec.Rope == RopeStyle.None ? null : new RotaryEmbedding(_c.HeadDim, rotaryDim, _c.RopeTheta, Math.Min(maxTokens, _c.MaxPositions), _spec.Rope, _c.RopeScaling);
        _cache = new KvCache(1, _c.KvHeads, _c.HeadDim, maxTokens);
        _b = new BlockBuffers(_c, _spec, maxTokens);
    }

    /// <summary>Most tokens a batch may hold.</summary>
    public int MaxTokens { get; }

    /// <summary>Writes the block-0 input of one sequence (positions 0…) into <paramref name="x"/> (tokens × hidden).</summary>
    public static void Embed(TransformerModel model, ReadOnlySpan<int> tokens, Span<float> x) => model.Embed(tokens, 0, x);

    /// <summary>Writes the block-0 input of a packed batch (each sequence from position 0) into <paramref name="x"/>.</summary>
    public static void Embed(TransformerModel model, ReadOnlySpan<int> tokens, ReadOnlySpan<int> lengths, Span<float> x)
    {
        int d = model.Config.HiddenSize, start = 0;
        foreach (int length in lengths)
        {
            model.Embed(tokens.Slice(start, length), 0, x.Slice(start * d, length * d));
            start += length;
        }
    }

    /// <summary>Final norm and classifier: <paramref name="logits"/> gets tokens × vocab floats.</summary>
    /// <exception cref="QuantSharpException">The model is an encoder (no head).</exception>
    public static void Head(TransformerModel model, ReadOnlySpan<float> x, int tokens, Span<float> logits)
    {
        (float[] norm, ILinearWeight head) = model.RequireHead();
        int d = model.Config.HiddenSize;
        float[] xn = new float[tokens * d];
        BlockOps.Normalize(model.Spec, x[..(tokens * d)], norm, model.FinalNormBias, model.Config.NormEps, xn, tokens);
        head.MatMul(xn, tokens, logits);
    }

    /// <summary>Runs block <paramref name="b"/> over one sequence of <paramref name="tokens"/> tokens; see the overload for packed batches.</summary>
    public bool Run(BlockWeights b, int layer, Span<float> x, int tokens, LinearInputObserver? observer = null, string? stopAt = null)
        => Run(b, layer, x, [tokens], observer, stopAt);

    /// <summary>
    /// Runs block <paramref name="b"/> (layer index <paramref name="layer"/>, for names) over <paramref name="x"/>, the
    /// packed hidden states of sequences of <paramref name="lengths"/> tokens (Σ lengths × hidden, each sequence at
    /// positions 0…), updating it in place to the block's output.
    /// </summary>
    /// <param name="b">The block's weights (may differ from the model's, e.g. partly quantized).</param>
    /// <param name="layer">Block index (tensor names of the observer).</param>
    /// <param name="x">Hidden states, updated in place.</param>
    /// <param name="lengths">Tokens of each packed sequence.</param>
    /// <param name="observer">Sees each linear layer's input before the layer reads it (fused layers once, shared inputs once per reader).</param>
    /// <param name="stopAt">When set, returns false right after the observer has seen this linear's input (x then is not the block output).</param>
    /// <returns>True when the block ran to the end.</returns>
    public bool Run(BlockWeights b, int layer, Span<float> x, ReadOnlySpan<int> lengths, LinearInputObserver? observer = null, string? stopAt = null)
    {
        int n = 0;
        foreach (int length in lengths)
        {
            if (length < 1 || length > _c.MaxPositions)
            {
                throw new QuantSharpException($"sequence length {length} is outside 1..{_c.MaxPositions} (the model's context)");
            }

            n += length;
        }

        if (n > MaxTokens)
        {
            throw new ArgumentOutOfRangeException(nameof(lengths), $"{n} tokens; this runner takes at most {MaxTokens}");
        }

        int d = _c.HiddenSize, f = _c.IntermediateSize;
        float eps = _c.NormEps;
        string p = _spec.LayerPrefix(layer);
        bool See(string? name, ReadOnlySpan<float> input)
        {
            if (name is null)
            {
                return false;
            }

            observer?.Invoke(p + name, input, n);
            return stopAt == p + name;
        }

        x = x[..(n * d)];
        ReadOnlySpan<float> xn = BlockOps.SublayerInput(_spec, x, b.AttnNorm, b.AttnNormBias, eps, _b.Xn, n);
        Span<float> q = _b.Q.AsSpan(0, n * _b.QDim), k = _b.K.AsSpan(0, n * _b.KvDim), v = _b.V.AsSpan(0, n * _b.KvDim);
        bool stopped = b.Qkv is not null ? See(_spec.Qkv, xn) : See(_spec.Q, xn) | See(_spec.K, xn) | See(_spec.V, xn);
        if (stopped)
        {
            return false;
        }

        BlockOps.ProjectQkv(b, xn, n, _b.QDim, _b.KvDim, _b.Fused, q, k, v);

        Span<float> att = _b.Att.AsSpan(0, n * _b.QDim);
        int start = 0;
        foreach (int length in lengths)
        {
            for (int t = start; t < start + length; t++)
            {
                _rope?.Apply(q.Slice(t * _b.QDim, _b.QDim), _c.Heads, t - start);
                _rope?.Apply(k.Slice(t * _b.KvDim, _b.KvDim), _c.KvHeads, t - start);
                _cache.Store(0, t, k.Slice(t * _b.KvDim, _b.KvDim), v.Slice(t * _b.KvDim, _b.KvDim));
            }

            Attention.Run(q.Slice(start * _b.QDim), att.Slice(start * _b.QDim), _cache, 0, _c.Heads, start, length, keyStart: start, causal: _spec.Causal);
            start += length;
        }

        if (See(_spec.O, att))
        {
            return false;
        }

        Span<float> o = _b.O.AsSpan(0, n * d);
        b.O.MatMul(att, n, o);
        BlockOps.Residual(_spec, x, o, b.OBias, b.AttnNorm, b.AttnNormBias, eps, n);

        xn = BlockOps.SublayerInput(_spec, x, b.MlpNorm, b.MlpNormBias, eps, _b.Xn, n);
        Span<float> gate = _b.Gate.AsSpan(0, n * f), up = _b.Up.AsSpan(0, _b.Up.Length == 0 ? 0 : n * f);
        stopped = b.GateUp is not null ? See(_spec.GateUp, xn) : See(_spec.Gate, xn) | See(_spec.Up, xn);
        if (stopped)
        {
            return false;
        }

        BlockOps.MlpActivation(_spec, b, xn, n, f, _b.Fused, gate, up);
        if (See(_spec.Down, gate))
        {
            return false;
        }

        b.Down.MatMul(gate, n, o);
        BlockOps.Residual(_spec, x, o, b.DownBias, b.MlpNorm, b.MlpNormBias, eps, n);
        return true;
    }

    /// <inheritdoc />
    public void Dispose() => _cache.Dispose();
}
