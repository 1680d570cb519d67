using QuantSharp.Formats;
using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>Weights of one transformer block.</summary>
public sealed class BlockWeights
{
    /// <summary>Norm before attention.</summary>
    public required float[] AttnNorm { get; init; }

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

    /// <summary>Norm before the MLP.</summary>
    public required float[] MlpNorm { get; init; }

    /// <summary>Separate gate/up, or null when <see cref="GateUp"/> is fused.</summary>
    public ILinearWeight? Gate { get; set; }

    /// <inheritdoc cref="Gate"/>
    public ILinearWeight? Up { get; set; }

    /// <summary>Fused [gate | up] projection, or null.</summary>
    public ILinearWeight? GateUp { get; set; }

    /// <summary>MLP down projection.</summary>
    public required ILinearWeight Down { get; set; }
}

/// <summary>
/// A decoder-only transformer: embeddings, blocks, final norm and classifier, over weights in any scheme.
/// Owns the weight source (disposing the model unmaps the files).
/// </summary>
public sealed class TransformerModel : IDisposable
{
    private readonly IDisposable? _owner;

    internal TransformerModel(ModelConfig config, ArchitectureSpec spec, ILinearWeight embedding, BlockWeights[] blocks, float[] finalNorm, ILinearWeight lmHead, IDisposable? owner)
    {
        Config = config;
        Spec = spec;
        Embedding = embedding;
        Blocks = blocks;
        FinalNorm = finalNorm;
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

    /// <summary>Final norm weight.</summary>
    public float[] FinalNorm { get; }

    /// <summary>Classifier ([vocab, hidden]); the embedding itself when tied.</summary>
    public ILinearWeight LmHead { get; }

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
    public long WeightBytes => Embedding.BytesInMemory + (ReferenceEquals(LmHead, Embedding) ? 0 : LmHead.BytesInMemory)
        + BlockLinears().Sum(l => l.Weight.BytesInMemory)
        + 4L * (FinalNorm.Length + Blocks.Sum(b => b.AttnNorm.Length + b.MlpNorm.Length));

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

            var b = new BlockWeights
            {
                AttnNorm = Vector(source, p + spec.AttnNorm, hidden),
                MlpNorm = Vector(source, p + spec.MlpNorm, hidden),
                O = Expect(linears.Get(p + spec.O), hidden, qDim, p + spec.O, source),
                Down = Expect(linears.Get(p + spec.Down), hidden, config.IntermediateSize, p + spec.Down, source),
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
                b.Gate = Expect(linears.Get(p + spec.Gate!), config.IntermediateSize, hidden, p + spec.Gate!, source);
                b.Up = Expect(linears.Get(p + spec.Up!), config.IntermediateSize, hidden, p + spec.Up!, source);
            }

            blocks[i] = b;
        }

        float[] finalNorm = Vector(source, spec.FinalNorm, hidden);
        ILinearWeight lmHead = config.TieWordEmbeddings ? embedding : Expect(linears.Get(spec.LmHead), config.VocabSize, hidden, spec.LmHead, source);
        return new TransformerModel(config, spec, embedding, blocks, finalNorm, lmHead, owner);
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
        Need(spec.FinalNorm, false);
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

        if (!config.TieWordEmbeddings && !linears.Has(spec.LmHead))
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
