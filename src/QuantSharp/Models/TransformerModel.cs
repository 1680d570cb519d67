using QuantSharp.Formats;
using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>Weights of one transformer block.</summary>
public sealed class BlockWeights
{
    /// <summary>Norm before attention (after it, with <see cref="ArchitectureSpec.PostNorm"/>).</summary>
    public required float[] AttnNorm { get; init; }

    /// <summary>LayerNorm bias of <see cref="AttnNorm"/>, or null (RMSNorm).</summary>
    public float[]? AttnNormBias { get; init; }

    /// <summary>Separate projections, or null when <see cref="Qkv"/> is fused.</summary>
    public ILinearWeight? Q { get; set; }

    /// <inheritdoc cref="Q"/>
    public ILinearWeight? K { get; set; }

    /// <inheritdoc cref="Q"/>
    public ILinearWeight? V { get; set; }

    /// <summary>Fused [Q | K | V] projection, or null.</summary>
    public ILinearWeight? Qkv { get; set; }

    /// <summary>Bias over the [Q | K | V] outputs, or null.</summary>
    public float[]? QkvBias { get; init; }

    /// <summary>Attention output projection.</summary>
    public required ILinearWeight O { get; set; }

    /// <summary>Bias of <see cref="O"/>, or null.</summary>
    public float[]? OBias { get; init; }

    /// <summary>Norm before the MLP (after it, with <see cref="ArchitectureSpec.PostNorm"/>).</summary>
    public required float[] MlpNorm { get; init; }

    /// <summary>LayerNorm bias of <see cref="MlpNorm"/>, or null (RMSNorm).</summary>
    public float[]? MlpNormBias { get; init; }

    /// <summary>Separate gate/up, or null when <see cref="GateUp"/> is fused.</summary>
    public ILinearWeight? Gate { get; set; }

    /// <inheritdoc cref="Gate"/>
    public ILinearWeight? Up { get; set; }

    /// <summary>Fused [gate | up] projection, or null.</summary>
    public ILinearWeight? GateUp { get; set; }

    /// <summary>MLP down projection.</summary>
    public required ILinearWeight Down { get; set; }

    /// <summary>Bias of <see cref="Gate"/>, or null.</summary>
    public float[]? GateBias { get; init; }

    /// <summary>Bias of <see cref="Up"/> (or of the fused <see cref="GateUp"/>), or null.</summary>
    public float[]? UpBias { get; init; }

    /// <summary>Bias of <see cref="Down"/>, or null.</summary>
    public float[]? DownBias { get; init; }

    /// <summary>A copy whose norm and bias vectors are copies (the linears are shared), for quantizers that fold scales.</summary>
    internal BlockWeights CloneVectors() => new()
    {
        AttnNorm = (float[])AttnNorm.Clone(),
        AttnNormBias = (float[]?)AttnNormBias?.Clone(),
        MlpNorm = (float[])MlpNorm.Clone(),
        MlpNormBias = (float[]?)MlpNormBias?.Clone(),
        QkvBias = (float[]?)QkvBias?.Clone(),
        OBias = (float[]?)OBias?.Clone(),
        GateBias = (float[]?)GateBias?.Clone(),
        UpBias = (float[]?)UpBias?.Clone(),
        DownBias = (float[]?)DownBias?.Clone(),
        Q = Q, K = K, V = V, Qkv = Qkv, O = O, Gate = Gate, Up = Up, GateUp = GateUp, Down = Down,
    };
}

/// <summary>What an encoder adds to the token embedding before the first block (BERT): a learned absolute position
/// table, the token-type-0 row, and a LayerNorm over the sum.</summary>
public sealed class EmbeddingExtras
{
    /// <summary>Learned positions [positions, hidden], or null.</summary>
    public float[]? Positions { get; init; }

    /// <summary>Row 0 of the token-type table (every token is type 0), or null.</summary>
    public float[]? TokenType { get; init; }

    /// <summary>Norm weight over the summed embeddings, or null.</summary>
    public float[]? Norm { get; init; }

    /// <summary>LayerNorm bias of <see cref="Norm"/>, or null.</summary>
    public float[]? NormBias { get; init; }
}

/// <summary>
/// A transformer — a decoder (embeddings, blocks, final norm and classifier) or an encoder (embeddings and blocks) —
/// over weights in any scheme. Owns the weight source (disposing the model unmaps the files).
/// </summary>
public sealed class TransformerModel : IDisposable
{
    private readonly IDisposable? _owner;

    internal TransformerModel(ModelConfig config, ArchitectureSpec spec, ILinearWeight embedding, EmbeddingExtras? extras, BlockWeights[] blocks, float[]? finalNorm, float[]? finalNormBias, ILinearWeight? lmHead, IDisposable? owner)
    {
        Config = config;
        Spec = spec;
        Embedding = embedding;
        Extras = extras;
        Blocks = blocks;
        FinalNorm = finalNorm;
        FinalNormBias = finalNormBias;
        LmHead = lmHead;
        _owner = owner;
    }

    /// <summary>Hyper-parameters.</summary>
    public ModelConfig Config { get; }

    /// <summary>Architecture description.</summary>
    public ArchitectureSpec Spec { get; }

    /// <summary>Token embeddings ([vocab, hidden]; rows are looked up with DequantizeRow).</summary>
    public ILinearWeight Embedding { get; }

    /// <summary>The blocks, in order.</summary>
    public BlockWeights[] Blocks { get; }

    /// <summary>Position, token-type and norm terms of the embedding stage (encoders), or null.</summary>
    public EmbeddingExtras? Extras { get; }

    /// <summary>Final norm weight, or null when the architecture has none (BERT).</summary>
    public float[]? FinalNorm { get; }

    /// <summary>LayerNorm bias of <see cref="FinalNorm"/>, or null.</summary>
    public float[]? FinalNormBias { get; }

    /// <summary>Classifier ([vocab, hidden]); the embedding itself when tied; null for an encoder.</summary>
    public ILinearWeight? LmHead { get; }

    /// <summary>The final norm and classifier, or a clear error for an encoder, which has none.</summary>
    /// <exception cref="QuantSharpException">The model is an encoder.</exception>
    public (float[] Norm, ILinearWeight Head) RequireHead() => FinalNorm is not null && LmHead is not null
        ? (FinalNorm, LmHead)
        : throw new QuantSharpException($"{Config.Architecture} is an encoder (bidirectional attention, no language-model head): it cannot generate or score text; use it for embeddings (quantsharp embed)");

    /// <summary>The same model with other blocks (shares every other weight; owns nothing).</summary>
    internal TransformerModel WithBlocks(BlockWeights[] blocks) => new(Config, Spec, Embedding, Extras, blocks, FinalNorm, FinalNormBias, LmHead, null);

    /// <summary>
    /// The input of block 0 for <paramref name="tokens"/> at positions <paramref name="firstPosition"/>, … : the token
    /// embedding rows, plus (encoders) the learned position rows and the token-type row, normed.
    /// </summary>
    /// <exception cref="QuantSharpException">A token id outside the vocabulary, or a position past the position table.</exception>
    public void Embed(ReadOnlySpan<int> tokens, int firstPosition, Span<float> x)
    {
        int d = Config.HiddenSize;
        for (int t = 0; t < tokens.Length; t++)
        {
            if ((uint)tokens[t] >= (uint)Config.VocabSize)
            {
                throw new QuantSharpException($"token id {tokens[t]} is outside the vocabulary of {Config.VocabSize}");
            }

            Span<float> row = x.Slice(t * d, d);
            Embedding.DequantizeRow(tokens[t], row);
            if (Extras is null)
            {
                continue;
            }

            if (Extras.Positions is not null)
            {
                int p = firstPosition + t;
                if ((long)(p + 1) * d > Extras.Positions.Length)
                {
                    throw new QuantSharpException($"position {p} is past the model's {Extras.Positions.Length / d} learned positions");
                }

                System.Numerics.Tensors.TensorPrimitives.Add(row, Extras.Positions.AsSpan(p * d, d), row);
            }

            if (Extras.TokenType is not null)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(row, Extras.TokenType, row);
            }

            if (Extras.Norm is not null)
            {
                BlockOps.Normalize(Spec, row, Extras.Norm, Extras.NormBias, Config.NormEps, row, 1);
            }
        }
    }

    /// <summary>Every linear weight inside the blocks with its tensor name.</summary>
    public IEnumerable<(string Name, ILinearWeight Weight)> BlockLinears()
    {
        for (int i = 0; i < Blocks.Length; i++)
        {
            string p = Spec.LayerPrefix(i);
            BlockWeights b = Blocks[i];
            foreach ((string? n, ILinearWeight? w) in new[] { (Spec.Q, b.Q), (Spec.K, b.K), (Spec.V, b.V), (Spec.Qkv, b.Qkv), (Spec.O, (ILinearWeight?)b.O), (Spec.Gate, b.Gate), (Spec.Up, b.Up), (Spec.GateUp, b.GateUp), (Spec.Down, (ILinearWeight?)b.Down) })
            {
                if (n is not null && w is not null)
                {
                    yield return (p + n, w);
                }
            }
        }
    }

    /// <summary>Bytes of all weights as held for inference.</summary>
    public long WeightBytes => Embedding.BytesInMemory + (LmHead is null || ReferenceEquals(LmHead, Embedding) ? 0 : LmHead.BytesInMemory)
        + BlockLinears().Sum(l => l.Weight.BytesInMemory)
        + 4L * ((FinalNorm?.Length ?? 0) + (Extras is null ? 0 : (Extras.Positions?.Length ?? 0) + (Extras.TokenType?.Length ?? 0) + (2 * (Extras.Norm?.Length ?? 0)))
            + Blocks.Sum(b => b.AttnNorm.Length + b.MlpNorm.Length + (b.AttnNormBias?.Length ?? 0) + (b.MlpNormBias?.Length ?? 0) + (b.QkvBias?.Length ?? 0)
                + (b.OBias?.Length ?? 0) + (b.GateBias?.Length ?? 0) + (b.UpBias?.Length ?? 0) + (b.DownBias?.Length ?? 0)));

    /// <summary>Builds a model from a config, its weight source and a provider for the linear layers.</summary>
    /// <exception cref="QuantSharpException">A required tensor is missing or has the wrong shape; the message lists what was expected.</exception>
    public static TransformerModel Create(ModelConfig config, IWeightSource source, ILinearProvider linears, IDisposable? owner = null, ArchitectureSpec? spec = null)
    {
        spec ??= ArchitectureSpec.For(config, source);
        CheckRequired(config, spec, source, linears);
        int qDim = config.Heads * config.HeadDim;
        int kvDim = config.KvHeads * config.HeadDim;
        int hidden = config.HiddenSize;

        ILinearWeight embedding = linears.Get(spec.Embedding);
        Expect(embedding, config.VocabSize, hidden, spec.Embedding, source);
        var blocks = new BlockWeights[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            string p = spec.LayerPrefix(i);
            float[]? qkvBias = null;
            if (spec.QkvBias)
            {
                qkvBias = spec.Qkv is not null
                    ? Vector(source, p + ArchitectureSpec.BiasOf(spec.Qkv), qDim + 2 * kvDim)
                    : [.. Vector(source, p + ArchitectureSpec.BiasOf(spec.Q!), qDim), .. Vector(source, p + ArchitectureSpec.BiasOf(spec.K!), kvDim), .. Vector(source, p + ArchitectureSpec.BiasOf(spec.V!), kvDim)];
            }

            bool layerNorm = spec.Norm == NormKind.Layer;
            float[]? LinearBias(string? weight, int length) => spec.LinearBias && weight is not null ? Vector(source, p + ArchitectureSpec.BiasOf(weight), length) : null;
            var b = new BlockWeights
            {
                AttnNorm = Vector(source, p + spec.AttnNorm, hidden),
                AttnNormBias = layerNorm ? Vector(source, p + ArchitectureSpec.BiasOf(spec.AttnNorm), hidden) : null,
                MlpNorm = Vector(source, p + spec.MlpNorm, hidden),
                MlpNormBias = layerNorm ? Vector(source, p + ArchitectureSpec.BiasOf(spec.MlpNorm), hidden) : null,
                O = Expect(linears.Get(p + spec.O), hidden, qDim, p + spec.O, source),
                OBias = LinearBias(spec.O, hidden),
                Down = Expect(linears.Get(p + spec.Down), hidden, config.IntermediateSize, p + spec.Down, source),
                DownBias = LinearBias(spec.Down, hidden),
                GateBias = LinearBias(spec.Gate, config.IntermediateSize),
                UpBias = LinearBias(spec.GateUp ?? spec.Up, spec.GateUp is not null ? 2 * config.IntermediateSize : config.IntermediateSize),
                QkvBias = qkvBias,
            };
            if (spec.Qkv is not null)
            {
                b.Qkv = Expect(linears.Get(p + spec.Qkv), qDim + 2 * kvDim, hidden, p + spec.Qkv, source);
            }
            else
            {
                b.Q = Expect(linears.Get(p + spec.Q!), qDim, hidden, p + spec.Q!, source);
                b.K = Expect(linears.Get(p + spec.K!), kvDim, hidden, p + spec.K!, source);
                b.V = Expect(linears.Get(p + spec.V!), kvDim, hidden, p + spec.V!, source);
            }

            if (spec.GateUp is not null)
            {
                b.GateUp = Expect(linears.Get(p + spec.GateUp), 2 * config.IntermediateSize, hidden, p + spec.GateUp, source);
            }
            else
            {
                if (spec.Gate is not null)
                {
                    b.Gate = Expect(linears.Get(p + spec.Gate), config.IntermediateSize, hidden, p + spec.Gate, source);
                }

                b.Up = Expect(linears.Get(p + spec.Up!), config.IntermediateSize, hidden, p + spec.Up!, source);
            }

            blocks[i] = b;
        }

        EmbeddingExtras? extras = null;
        if (spec.PositionEmbedding is not null || spec.TokenTypeEmbedding is not null || spec.EmbeddingNorm is not null)
        {
            extras = new EmbeddingExtras
            {
                Positions = spec.PositionEmbedding is null ? null : Matrix(source, spec.PositionEmbedding, hidden),
                TokenType = spec.TokenTypeEmbedding is null ? null : Matrix(source, spec.TokenTypeEmbedding, hidden)[..hidden],
                Norm = spec.EmbeddingNorm is null ? null : Vector(source, spec.EmbeddingNorm, hidden),
                NormBias = spec.EmbeddingNorm is not null && spec.Norm == NormKind.Layer ? Vector(source, ArchitectureSpec.BiasOf(spec.EmbeddingNorm), hidden) : null,
            };
        }

        float[]? finalNorm = spec.FinalNorm is null ? null : Vector(source, spec.FinalNorm, hidden);
        float[]? finalNormBias = spec.FinalNorm is not null && spec.Norm == NormKind.Layer ? Vector(source, ArchitectureSpec.BiasOf(spec.FinalNorm), hidden) : null;
        ILinearWeight? lmHead = spec.LmHead is null ? null
            : config.TieWordEmbeddings ? embedding : Expect(linears.Get(spec.LmHead), config.VocabSize, hidden, spec.LmHead, source);
        return new TransformerModel(config, spec, embedding, extras, blocks, finalNorm, finalNormBias, lmHead, owner);
    }

    private static void CheckRequired(ModelConfig config, ArchitectureSpec spec, IWeightSource source, ILinearProvider linears)
    {
        var missing = new List<string>();
        void Need(string name, bool linear)
        {
            if (linear ? !linears.Has(name) : !source.Tensors.ContainsKey(name))
            {
                missing.Add(name);
            }
        }

        Need(spec.Embedding, true);
        foreach (string? n in new[] { spec.FinalNorm, spec.PositionEmbedding, spec.TokenTypeEmbedding, spec.EmbeddingNorm })
        {
            if (n is not null)
            {
                Need(n, false);
            }
        }

        for (int i = 0; i < config.Layers; i++)
        {
            string p = spec.LayerPrefix(i);
            Need(p + spec.AttnNorm, false);
            Need(p + spec.MlpNorm, false);
        }

        foreach (string n in spec.BlockLinearNames(config.Layers))
        {
            Need(n, true);
        }

        if (spec.LmHead is not null && !config.TieWordEmbeddings && !linears.Has(spec.LmHead))
        {
            missing.Add(spec.LmHead);
        }

        if (missing.Count > 0)
        {
            string shown = string.Join(", ", missing.Take(8)) + (missing.Count > 8 ? $", … ({missing.Count} in all)" : "");
            throw new QuantSharpException($"{source.Location}: {config.Architecture} checkpoint is missing required tensors: {shown}. Expected names like {spec.LayerPrefix(0)}{spec.Q ?? spec.Qkv} and {spec.Embedding}.");
        }
    }

    private static float[] Vector(IWeightSource source, string name, int length)
    {
        if (!source.Tensors.TryGetValue(name, out var view))
        {
            throw new QuantSharpException($"{source.Location}: tensor '{name}' is missing");
        }

        if (view.ElementCount != length)
        {
            throw new QuantSharpException($"{source.Location}: tensor '{name}' has shape {view.ShapeText}, expected [{length}]");
        }

        return view.ToFloatArray();
    }

    private static float[] Matrix(IWeightSource source, string name, int width)
    {
        if (!source.Tensors.TryGetValue(name, out var view))
        {
            throw new QuantSharpException($"{source.Location}: tensor '{name}' is missing");
        }

        if (view.Shape.Length != 2 || view.Shape[1] != width || view.Shape[0] < 1)
        {
            throw new QuantSharpException($"{source.Location}: tensor '{name}' has shape {view.ShapeText}, expected [n, {width}]");
        }

        return view.ToFloatArray();
    }

    private static ILinearWeight Expect(ILinearWeight w, int rows, int cols, string name, IWeightSource source)
    {
        if (w.Rows != rows || w.Cols != cols)
        {
            throw new QuantSharpException($"{source.Location}: tensor '{name}' is [{w.Rows}, {w.Cols}], expected [{rows}, {cols}] from config.json");
        }

        return w;
    }

    /// <inheritdoc />
    public void Dispose() => _owner?.Dispose();
}
