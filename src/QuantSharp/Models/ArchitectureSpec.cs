namespace QuantSharp.Models;

/// <summary>How rotary position embeddings are applied inside a head.</summary>
public enum RopeStyle
{
    /// <summary>Hugging Face Llama: pairs (i, i + d/2) over the whole head ("rotate_half").</summary>
    RotateHalf,

    /// <summary>GLM: interleaved pairs (2i, 2i + 1) over the first <see cref="ArchitectureSpec.RotaryFraction"/> of the head.</summary>
    InterleavedPartial,
}

/// <summary>Linear layers that read the same activation, and the op that produces it (AWQ folds scales into it).</summary>
/// <param name="Producer">Tensor name of the producing op's weight (a norm weight, or the previous linear).</param>
/// <param name="Consumers">Full tensor names of the linear weights that read the activation.</param>
/// <param name="ProducerRows">For a fused producer, the slice of its output rows that makes the input (start, count); null for all.</param>
public sealed record InputGroup(string Producer, IReadOnlyList<string> Consumers, (int Start, int Count)? ProducerRows = null);

/// <summary>
/// Everything that differs between decoder architectures: the tensor-name map, the block's variant switches and
/// which linear layers share an input. The forward pass and the quantizers read only this.
/// </summary>
public sealed class ArchitectureSpec
{
    /// <summary>Architecture name as in config.json.</summary>
    public required string Name { get; init; }

    /// <summary>Token embedding tensor.</summary>
    public required string Embedding { get; init; }

    /// <summary>Final norm weight.</summary>
    public required string FinalNorm { get; init; }

    /// <summary>Classifier weight (absent when tied).</summary>
    public required string LmHead { get; init; }

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
    public static IReadOnlyList<string> Supported { get; } = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", .. GlmSpec.Architectures];

    /// <summary>The spec for a config, or a clear error listing what is supported.</summary>
    /// <exception cref="QuantSharpException">Unknown architecture.</exception>
    public static ArchitectureSpec For(ModelConfig config) => config.Architecture switch
    {
        "LlamaForCausalLM" or "MistralForCausalLM" => Llama(config.Architecture, config.AttentionBias),
        "Qwen2ForCausalLM" => Llama(config.Architecture, true),
        _ when GlmSpec.Matches(config) => GlmSpec.Create(config),
        _ => throw new QuantSharpException($"architecture '{config.Architecture}' is not supported; supported: {string.Join(", ", Supported)}"),
    };

    /// <summary>The spec for a config whose tensors are in <paramref name="source"/> (chooses between naming forms where an
    /// architecture has several, e.g. GLM with or without the <c>transformer.</c> prefix).</summary>
    /// <exception cref="QuantSharpException">Unknown architecture or unsupported config.</exception>
    public static ArchitectureSpec For(ModelConfig config, Formats.IWeightSource source)
        => GlmSpec.Matches(config) ? GlmSpec.Create(config, source.Tensors.ContainsKey) : For(config);

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
    /// and which op produces it.</summary>
    public IReadOnlyList<InputGroup> InputGroups(int layer, ModelConfig config)
    {
        string p = LayerPrefix(layer);
        var groups = new List<InputGroup>();
        string[] attnIn = Qkv is not null ? [p + Qkv] : [p + Q!, p + K!, p + V!];
        groups.Add(new InputGroup(p + AttnNorm, attnIn));
        int qDim = config.Heads * config.HeadDim;
        int kvDim = config.KvHeads * config.HeadDim;
        groups.Add(Qkv is not null
            ? new InputGroup(p + Qkv, [p + O], (qDim + kvDim, kvDim))
            : new InputGroup(p + V!, [p + O]));
        string[] mlpIn = GateUp is not null ? [p + GateUp] : [p + Gate!, p + Up!];
        groups.Add(new InputGroup(p + MlpNorm, mlpIn));
        groups.Add(GateUp is not null
            ? new InputGroup(p + GateUp, [p + Down], (config.IntermediateSize, config.IntermediateSize))
            : new InputGroup(p + Up!, [p + Down]));
        return groups;
    }

    /// <summary>Bias tensor name for a weight name (<c>.weight</c> → <c>.bias</c>).</summary>
    public static string BiasOf(string weightName) => weightName.EndsWith(".weight", StringComparison.Ordinal)
        ? weightName[..^".weight".Length] + ".bias"
        : weightName + ".bias";
}
