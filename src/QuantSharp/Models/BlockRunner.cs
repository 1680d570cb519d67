using System.Numerics.Tensors;
using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>Called with the input a linear layer is about to read: its full tensor name, tokens × Cols floats, and the token count.</summary>
public delegate void LinearInputObserver(string linearName, ReadOnlySpan<float> input, int tokens);

/// <summary>
/// Runs one transformer block at a time over one sequence's hidden states (the same math as
/// <see cref="InferenceSession"/>, from position 0, with its own one-layer KV cache), so calibration can walk a
/// model block by block and swap a block's linear layers between passes. Optionally reports each linear layer's
/// input, and can stop right after a given layer's input has been seen.
/// </summary>
public sealed class BlockRunner : IDisposable
{
    private readonly ModelConfig _c;
    private readonly ArchitectureSpec _spec;
    private readonly RotaryEmbedding _rope;
    private readonly KvCache _cache;
    private readonly int _qDim, _kvDim;
    private readonly float[] _xn, _q, _k, _v, _att, _o, _gate, _up, _fused;

    /// <summary>Creates a runner for sequences of up to <paramref name="maxTokens"/> tokens.</summary>
    public BlockRunner(TransformerModel model, int maxTokens)
    {
        _c = model.Config;
        _spec = model.Spec;
        if (maxTokens < 1 || maxTokens > _c.MaxPositions)
        {
            throw new QuantSharpException($"sequence length {maxTokens} is outside 1..{_c.MaxPositions} (the model's context)");
        }

        MaxTokens = maxTokens;
        _qDim = _c.Heads * _c.HeadDim;
        _kvDim = _c.KvHeads * _c.HeadDim;
        int rotaryDim = (int)(_c.HeadDim * _spec.RotaryFraction) / 2 * 2;
        _rope = new RotaryEmbedding(_c.HeadDim, rotaryDim, _c.RopeTheta, maxTokens, _spec.Rope, _c.RopeScaling);
        _cache = new KvCache(1, _c.KvHeads, _c.HeadDim, maxTokens);
        int n = maxTokens;
        _xn = new float[n * _c.HiddenSize];
        _q = new float[n * _qDim];
        _k = new float[n * _kvDim];
        _v = new float[n * _kvDim];
        _att = new float[n * _qDim];
        _o = new float[n * _c.HiddenSize];
        _gate = new float[n * _c.IntermediateSize];
        _up = new float[n * _c.IntermediateSize];
        _fused = new float[n * Math.Max(_qDim + (2 * _kvDim), 2 * _c.IntermediateSize)];
    }

    /// <summary>Longest sequence this runner takes.</summary>
    public int MaxTokens { get; }

    /// <summary>Writes the embeddings of <paramref name="tokens"/> into <paramref name="x"/> (tokens × hidden).</summary>
    public static void Embed(TransformerModel model, ReadOnlySpan<int> tokens, Span<float> x)
    {
        int d = model.Config.HiddenSize;
        for (int t = 0; t < tokens.Length; t++)
        {
            model.Embedding.DequantizeRow(tokens[t], x.Slice(t * d, d));
        }
    }

    /// <summary>Final norm and classifier: <paramref name="logits"/> gets tokens × vocab floats.</summary>
    public static void Head(TransformerModel model, ReadOnlySpan<float> x, int tokens, Span<float> logits)
    {
        int d = model.Config.HiddenSize;
        float[] xn = new float[tokens * d];
        RmsNorm.ApplyRows(x[..(tokens * d)], model.FinalNorm, model.Config.RmsNormEps, xn, tokens);
        model.LmHead.MatMul(xn, tokens, logits);
    }

    /// <summary>
    /// Runs block <paramref name="b"/> (layer index <paramref name="layer"/>, for names) over <paramref name="x"/>
    /// (tokens × hidden, positions 0..tokens−1), updating it in place to the block's output.
    /// </summary>
    /// <param name="b">The block's weights (may differ from the model's, e.g. partly quantized).</param>
    /// <param name="layer">Block index (tensor names of the observer).</param>
    /// <param name="x">Hidden states, updated in place.</param>
    /// <param name="tokens">Sequence length.</param>
    /// <param name="observer">Sees each linear layer's input before the layer reads it (fused layers once, shared inputs once per reader).</param>
    /// <param name="stopAt">When set, returns false right after the observer has seen this linear's input (x then is not the block output).</param>
    /// <returns>True when the block ran to the end.</returns>
    public bool Run(BlockWeights b, int layer, Span<float> x, int tokens, LinearInputObserver? observer = null, string? stopAt = null)
    {
        if (tokens < 1 || tokens > MaxTokens)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), $"{tokens} tokens; this runner takes 1..{MaxTokens}");
        }

        int d = _c.HiddenSize, f = _c.IntermediateSize, n = tokens;
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
        Span<float> xn = _xn.AsSpan(0, n * d);
        RmsNorm.ApplyRows(x, b.AttnNorm, _c.RmsNormEps, xn, n);
        Span<float> q = _q.AsSpan(0, n * _qDim), k = _k.AsSpan(0, n * _kvDim), v = _v.AsSpan(0, n * _kvDim);
        bool stopped = b.Qkv is not null ? See(_spec.Qkv, xn) : See(_spec.Q, xn) | See(_spec.K, xn) | See(_spec.V, xn);
        if (stopped)
        {
            return false;
        }

        BlockOps.ProjectQkv(b, xn, n, _qDim, _kvDim, _fused, q, k, v);

        for (int t = 0; t < n; t++)
        {
            _rope.Apply(q.Slice(t * _qDim, _qDim), _c.Heads, t);
            _rope.Apply(k.Slice(t * _kvDim, _kvDim), _c.KvHeads, t);
            _cache.Store(0, t, k.Slice(t * _kvDim, _kvDim), v.Slice(t * _kvDim, _kvDim));
        }

        Span<float> att = _att.AsSpan(0, n * _qDim);
        Attention.Run(q, att, _cache, 0, _c.Heads, 0, n);
        if (See(_spec.O, att))
        {
            return false;
        }

        Span<float> o = _o.AsSpan(0, n * d);
        b.O.MatMul(att, n, o);
        TensorPrimitives.Add(x, o, x);

        RmsNorm.ApplyRows(x, b.MlpNorm, _c.RmsNormEps, xn, n);
        Span<float> gate = _gate.AsSpan(0, n * f), up = _up.AsSpan(0, n * f);
        stopped = b.GateUp is not null ? See(_spec.GateUp, xn) : See(_spec.Gate, xn) | See(_spec.Up, xn);
        if (stopped)
        {
            return false;
        }

        BlockOps.GateUpSwiGlu(b, xn, n, f, _fused, gate, up);
        if (See(_spec.Down, gate))
        {
            return false;
        }

        b.Down.MatMul(gate, n, o);
        TensorPrimitives.Add(x, o, x);
        return true;
    }

    /// <inheritdoc />
    public void Dispose() => _cache.Dispose();
}
