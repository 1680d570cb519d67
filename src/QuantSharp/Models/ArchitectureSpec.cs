namespace QuantSharp.Models;

/// <summary>How rotary position embeddings are applied inside a head.</summary>
public enum RopeStyle
{
    /// <summary>Hugging Face Llama: pairs (i, i + d/2) over the whole head ("rotate_half").</summary>
    RotateHalf,

    /// <summary>GLM: interleaved pairs (2i, 2i + 1) over the first <see cref="ArchitectureSpec.RotaryFraction"/> of the head.</summary>
    InterleavedPartial,

    /// <summary>No rotary embedding (positions come from a learned table, <see cref="ArchitectureSpec.PositionEmbedding"/>).</summary>
    None,
}

/// <summary>The normalization a block uses.</summary>
public enum NormKind
{
    /// <summary>RMSNorm with a weight.</summary>
    Rms,

    /// <summary>LayerNorm with a weight and a bias (the bias tensor is named by <see cref="ArchitectureSpec.BiasOf"/>).</summary>
    Layer,
}

/// <summary>The MLP's shape.</summary>
public enum MlpKind
{
    /// <summary>Gated: <c>down(silu(gate(x)) · up(x))</c>.</summary>
    SwiGlu,

    /// <summary>Plain: <c>down(gelu(up(x)))</c> with the exact (erf) GELU, as BERT.</summary>
    Gelu,
}

/// <summary>Linear layers that read the same activation, and the op that produces it (AWQ folds scales into it).</summary>
/// <param name="Producer">Tensor name of the producing op's weight (a norm weight, or the previous linear); null when no op
/// can absorb a scale (see <paramref name="NoScaleReason"/>).</param>
/// <param name="Consumers">Full tensor names of the linear weights that read the activation.</param>
/// <param name="ProducerRows">For a fused producer, the slice of its output rows that makes the input (start, count); null for all.</param>
/// <param name="NoScaleReason">Why the input cannot be rescaled when <paramref name="Producer"/> is null.</param>
public sealed record InputGroup(string? Producer, IReadOnlyList<string> Consumers, (int Start, int Count)? ProducerRows = null, string? NoScaleReason = null);

/// <summary>
/// Everything that differs between architectures (decoders and encoders): the tensor-name map, the block's variant
/// switches and which linear layers share an input. The forward pass and the quantizers read only this.
/// </summary>
public sealed class ArchitectureSpec
{
    /// <summary>Architecture name as in config.json.</summary>
    public required string Name { get; init; }

    /// <summary>Token embedding tensor.</summary>
    public required string Embedding { get; init; }

    /// <summary>Final norm weight, or null when the last block's output is final (BERT).</summary>
    public string? FinalNorm { get; init; }

    /// <summary>Classifier weight (absent from the file when tied), or null for an encoder without a language-model head.</summary>
    public string? LmHead { get; init; }

    /// <summary>Learned absolute position table [positions, hidden], or null (RoPE).</summary>
    public string? PositionEmbedding { get; init; }

    /// <summary>Token-type table [types, hidden] (row 0 is added to every token), or null.</summary>
    public string? TokenTypeEmbedding { get; init; }

    /// <summary>Norm applied to the summed embeddings (BERT's <c>embeddings.LayerNorm</c>), or null.</summary>
    public string? EmbeddingNorm { get; init; }

    /// <summary>Which norm the blocks (and the embedding/final norms) use.</summary>
    public NormKind Norm { get; init; } = NormKind.Rms;

    /// <summary>Norms come after each residual sum (BERT, <c>x = norm(x + f(x))</c>) instead of before each sublayer
    /// (<c>x = x + f(norm(x))</c>). <see cref="AttnNorm"/> then names the norm after attention.</summary>
    public bool PostNorm { get; init; }

    /// <summary>The MLP's shape.</summary>
    public MlpKind Mlp { get; init; } = MlpKind.SwiGlu;

    /// <summary>Whether the attention output and MLP linears carry biases (their tensors named by <see cref="BiasOf"/>).</summary>
    public bool LinearBias { get; init; }

    /// <summary>Causal attention (a decoder); false lets every token see its whole sequence (an encoder).</summary>
    public bool Causal { get; init; } = true;

    /// <summary>True for an encoder: bidirectional attention, no generation.</summary>
    public bool IsEncoder => !Causal;

    /// <summary>Prefix of block <c>i</c>'s tensors.</summary>
    public required Func<int, string> LayerPrefix { get; init; }

    /// <summary>Block-relative tensor names.</summary>
    public required string AttnNorm { get; init; }

    /// <summary>Separate q/k/v projections (null when fused).</summary>
    public string? Q { get; init; }

    /// <inheritdoc cref="Q"/>
    public string? K { get; init; }

    /// <inheritdoc cref="Q"/>
    public string? V { get; init; }

    /// <summary>Fused [Q | K | V] projection (GLM's <c>query_key_value</c>), or null.</summary>
    public string? Qkv { get; init; }

    /// <summary>Attention output projection.</summary>
    public required string O { get; init; }

    /// <summary>Norm before the MLP.</summary>
    public required string MlpNorm { get; init; }

    /// <summary>Separate gate/up projections (null when fused).</summary>
    public string? Gate { get; init; }

    /// <inheritdoc cref="Gate"/>
    public string? Up { get; init; }

    /// <summary>Fused [gate | up] projection (GLM's <c>dense_h_to_4h</c>, gate first), or null.</summary>
    public string? GateUp { get; init; }

    /// <summary>MLP down projection.</summary>
    public required string Down { get; init; }

    /// <summary>Whether q/k/v (or the fused qkv) have biases.</summary>
    public bool QkvBias { get; init; }

    /// <summary>RoPE variant.</summary>
    public RopeStyle Rope { get; init; } = RopeStyle.RotateHalf;

    /// <summary>Fraction of each head that is rotated.</summary>
    public double RotaryFraction { get; init; } = 1.0;

    /// <summary>Whether the last entry of Hugging Face's <c>hidden_states</c> is the final-normed output (Llama family)
    /// or the last block's output before the final norm (GLM).</summary>
    public bool LastHiddenStateIsNormed { get; init; } = true;

    /// <summary>Whether left-padding query rows attend to every key, later ones included (THUDM GLM's <c>get_masks</c>),
    /// instead of being masked out.</summary>
    public bool PaddedQueriesAttendAll { get; init; }

    /// <summary>The Llama family: Llama, Mistral, Qwen2 (with q/k/v bias).</summary>
    public static ArchitectureSpec Llama(string name, bool qkvBias) => new()
    {
        Name = name,
        Embedding = "model.embed_tokens.weight",
        FinalNorm = "model.norm.weight",
        LmHead = "lm_head.weight",
        LayerPrefix = i => $"model.layers.{i}.",
        AttnNorm = "input_layernorm.weight",
        Q = "self_attn.q_proj.weight",
        K = "self_attn.k_proj.weight",
        V = "self_attn.v_proj.weight",
        O = "self_attn.o_proj.weight",
        MlpNorm = "post_attention_layernorm.weight",
        Gate = "mlp.gate_proj.weight",
        Up = "mlp.up_proj.weight",
        Down = "mlp.down_proj.weight",
        QkvBias = qkvBias,
    };

    /// <summary>Architectures this build can run.</summary>
    public static IReadOnlyList<string> Supported { get; } = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", .. GlmSpec.Architectures, .. BertSpec.Architectures];

    /// <summary>The spec for a config, or a clear error listing what is supported.</summary>
    /// <exception cref="QuantSharpException">Unknown architecture.</exception>
    public static ArchitectureSpec For(ModelConfig config) => config.Architecture switch
    {
        "LlamaForCausalLM" or "MistralForCausalLM" => Llama(config.Architecture, config.AttentionBias),
        "Qwen2ForCausalLM" => Llama(config.Architecture, true),
        _ when GlmSpec.Matches(config) => GlmSpec.Create(config),
        _ when BertSpec.Matches(config) => BertSpec.Create(config),
        _ => throw new QuantSharpException($"architecture '{config.Architecture}' is not supported; supported: {string.Join(", ", Supported)}"),
    };

    /// <summary>The spec for a config whose tensors are in <paramref name="source"/> (chooses between naming forms where an
    /// architecture has several, e.g. GLM with or without the <c>transformer.</c> prefix).</summary>
    /// <exception cref="QuantSharpException">Unknown architecture or unsupported config.</exception>
    public static ArchitectureSpec For(ModelConfig config, Formats.IWeightSource source)
        => GlmSpec.Matches(config) ? GlmSpec.Create(config, source.Tensors.ContainsKey)
            : BertSpec.Matches(config) ? BertSpec.Create(config, source.Tensors.ContainsKey)
            : For(config);

    /// <summary>Full names of every linear weight inside the blocks, in forward order.</summary>
    public IEnumerable<string> BlockLinearNames(int layers)
    {
        for (int i = 0; i < layers; i++)
        {
            string p = LayerPrefix(i);
            foreach (string? n in new[] { Q, K, V, Qkv, O, Gate, Up, GateUp, Down })
            {
                if (n is not null)
                {
                    yield return p + n;
                }
            }
        }
    }

    /// <summary>Input-sharing groups of block <paramref name="layer"/> (for AWQ): which linears read the same activation
    /// and which op produces it (none that can absorb a scale when the residual stream reads the activation too, as
    /// after a post-norm, or when it comes through a GELU).</summary>
    public IReadOnlyList<InputGroup> InputGroups(int layer, ModelConfig config)
    {
        const string residual = "the input is also the residual stream (post-norm), so no op can absorb a scale";
        string p = LayerPrefix(layer);
        var groups = new List<InputGroup>();
        string[] attnIn = Qkv is not null ? [p + Qkv] : [p + Q!, p + K!, p + V!];
        groups.Add(PostNorm ? new InputGroup(null, attnIn, NoScaleReason: residual) : new InputGroup(p + AttnNorm, attnIn));
        int qDim = config.Heads * config.HeadDim;
        int kvDim = config.KvHeads * config.HeadDim;
        groups.Add(Qkv is not null
            ? new InputGroup(p + Qkv, [p + O], (qDim + kvDim, kvDim))
            : new InputGroup(p + V!, [p + O]));
        string[] mlpIn = GateUp is not null ? [p + GateUp] : Gate is not null ? [p + Gate, p + Up!] : [p + Up!];
        groups.Add(PostNorm ? new InputGroup(null, mlpIn, NoScaleReason: residual) : new InputGroup(p + MlpNorm, mlpIn));
        groups.Add(Mlp == MlpKind.Gelu ? new InputGroup(null, [p + Down], NoScaleReason: "the input comes through a GELU, which does not commute with a scale")
            : GateUp is not null ? new InputGroup(p + GateUp, [p + Down], (config.IntermediateSize, config.IntermediateSize))
            : new InputGroup(p + Up!, [p + Down]));
        return groups;
    }

    /// <summary>Bias tensor name for a weight name (<c>.weight</c> → <c>.bias</c>).</summary>
    public static string BiasOf(string weightName) => weightName.EndsWith(".weight", StringComparison.Ordinal)
        ? weightName[..^".weight".Length] + ".bias"
        : weightName + ".bias";
}
