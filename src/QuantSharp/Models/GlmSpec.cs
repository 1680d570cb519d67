using System.Text.Json;

namespace QuantSharp.Models;

/// <summary>
/// THUDM's GLM decoder (ChatGLM2/ChatGLM3, GLM-4; <c>model_type: chatglm</c>): fused <c>query_key_value</c> with a
/// [Q | K | V] output split over multi-query groups, gate-first fused <c>dense_h_to_4h</c>, RMSNorm, and RoPE on the
/// first half of each head as interleaved pairs with base <c>10000 · rope_ratio</c>.
/// </summary>
/// <remarks>
/// Tensor names are those of <c>ChatGLMForConditionalGeneration</c> (<c>transformer.encoder.layers.N.…</c>); a bare
/// <c>ChatGLMModel</c> checkpoint without the <c>transformer.</c> prefix is accepted too. Config switches that no
/// released GLM uses (LayerNorm instead of RMSNorm, post-layernorm residuals, biases on the other linears, per-head
/// interleaved q/k/v without multi-query attention) are rejected with a clear error rather than run unverified.
/// </remarks>
public static class GlmSpec
{
    /// <summary>Architecture names in config.json that select this spec.</summary>
    public static IReadOnlyList<string> Architectures { get; } = ["ChatGLMModel", "ChatGLMForConditionalGeneration"];

    /// <summary>The <c>model_type</c> that selects this spec.</summary>
    public const string ModelType = "chatglm";

    /// <summary>Probe tensor (block 0's input norm is never quantized) used to tell the two naming forms apart.</summary>
    private const string Probe = "encoder.layers.0.input_layernorm.weight";

    /// <summary>True when <paramref name="config"/> names a GLM architecture.</summary>
    public static bool Matches(ModelConfig config)
        => Architectures.Contains(config.Architecture) || config.ModelType == ModelType;

    /// <summary>
    /// The spec for a GLM config. <paramref name="hasTensor"/> tells whether a checkpoint holds a tensor name, to choose
    /// between the <c>transformer.</c>-prefixed and bare names; without it the prefixed names are used.
    /// </summary>
    /// <exception cref="QuantSharpException">A config switch or size this implementation does not support.</exception>
    public static ArchitectureSpec Create(ModelConfig config, Func<string, bool>? hasTensor = null)
    {
        Validate(config);
        using JsonDocument doc = JsonDocument.Parse(config.RawJson);
        bool qkvBias = ModelConfig.GetBool(doc.RootElement, "add_qkv_bias") ?? false;
        string prefix = hasTensor is not null && !hasTensor("transformer." + Probe) && hasTensor(Probe) ? "" : "transformer.";
        return new ArchitectureSpec
        {
            Name = config.Architecture,
            Embedding = prefix + "embedding.word_embeddings.weight",
            FinalNorm = prefix + "encoder.final_layernorm.weight",
            LmHead = prefix + "output_layer.weight",
            LayerPrefix = i => $"{prefix}encoder.layers.{i}.",
            AttnNorm = "input_layernorm.weight",
            Qkv = "self_attention.query_key_value.weight",
            O = "self_attention.dense.weight",
            MlpNorm = "post_attention_layernorm.weight",
            GateUp = "mlp.dense_h_to_4h.weight",
            Down = "mlp.dense_4h_to_h.weight",
            QkvBias = qkvBias,
            Rope = RopeStyle.InterleavedPartial,
            RotaryFraction = 0.5,
            LastHiddenStateIsNormed = false,
            PaddedQueriesAttendAll = true,
        };
    }

    /// <summary>Checks the GLM-specific config fields (THUDM's <c>ChatGLMConfig</c> defaults apply when absent).</summary>
    /// <exception cref="QuantSharpException">The first unsupported or inconsistent field.</exception>
    public static void Validate(ModelConfig config)
    {
        string source = $"{config.Architecture} config";
        using JsonDocument doc = JsonDocument.Parse(config.RawJson);
        JsonElement root = doc.RootElement;
        if (root.TryGetProperty("position_encoding_2d", out _))
        {
            throw new QuantSharpException($"{source}: this is a first-generation ChatGLM-6B config (position_encoding_2d); only ChatGLM2/ChatGLM3 and GLM-4 are supported");
        }

        int heads = config.Heads;
        if (config.HiddenSize % heads != 0)
        {
            throw new QuantSharpException($"{source}: hidden_size {config.HiddenSize} is not divisible by num_attention_heads {heads}");
        }

        if (ModelConfig.GetBool(root, "multi_query_attention") != true)
        {
            throw new QuantSharpException($"{source}: multi_query_attention is false; the per-head interleaved query_key_value layout it implies is not supported (every released ChatGLM2/3 and GLM-4 uses multi-query groups)");
        }

        int? groups = ModelConfig.GetInt(root, "multi_query_group_num");
        if (groups is null or <= 0)
        {
            throw new QuantSharpException($"{source}: multi_query_group_num must be a positive integer when multi_query_attention is true");
        }

        if (heads % groups.Value != 0)
        {
            throw new QuantSharpException($"{source}: num_attention_heads {heads} is not a multiple of multi_query_group_num {groups}");
        }

        if (config.HeadDim % 4 != 0)
        {
            throw new QuantSharpException($"{source}: kv_channels {config.HeadDim} must be a multiple of 4 (RoPE rotates interleaved pairs over half of each head)");
        }

        Reject(root, source, "rmsnorm", false, "LayerNorm instead of RMSNorm");
        Reject(root, source, "post_layer_norm", false, "no final layer norm");
        Reject(root, source, "apply_residual_connection_post_layernorm", true, "residual taken after the layer norm");
        Reject(root, source, "add_bias_linear", true, "biases on dense, dense_h_to_4h and dense_4h_to_h");
        if (ModelConfig.GetInt(root, "pre_seq_len") is int p && p > 0)
        {
            throw new QuantSharpException($"{source}: pre_seq_len {p} (P-tuning v2 prefix) is not supported");
        }
    }

    private static void Reject(JsonElement root, string source, string field, bool unsupported, string meaning)
    {
        if (ModelConfig.GetBool(root, field) == unsupported)
        {
            throw new QuantSharpException($"{source}: {field} = {(unsupported ? "true" : "false")} ({meaning}) is not supported; every released ChatGLM2/3 and GLM-4 has {(unsupported ? "false" : "true")}");
        }
    }
}
