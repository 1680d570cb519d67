using System.Text.Json;

namespace QuantSharp.Models;

/// <summary>
/// BERT encoders (<c>model_type: bert</c>; sentence-transformers models such as all-MiniLM-L6-v2 are <c>BertModel</c>
/// checkpoints): word + learned absolute position + token-type embeddings under a LayerNorm, then post-LayerNorm blocks
/// with biases on every linear, bidirectional attention and an exact (erf) GELU MLP. The pooler and any task head are
/// not part of the encoder and are ignored.
/// </summary>
/// <remarks>
/// Tensor names are those of <c>BertModel</c>; checkpoints saved from a task model (<c>BertForMaskedLM</c>, …) carry a
/// <c>bert.</c> prefix, which is accepted too. Config values this implementation does not run (relative position
/// embeddings, another activation) are rejected with a clear error.
/// </remarks>
public static class BertSpec
{
    /// <summary>Architecture names in config.json that select this spec.</summary>
    public static IReadOnlyList<string> Architectures { get; } = ["BertModel", "BertForMaskedLM", "BertForSequenceClassification", "BertForTokenClassification", "BertForPreTraining"];

    /// <summary>The <c>model_type</c> that selects this spec.</summary>
    public const string ModelType = "bert";

    private const string Probe = "embeddings.word_embeddings.weight";

    /// <summary>True when <paramref name="config"/> names a BERT architecture.</summary>
    public static bool Matches(ModelConfig config) => Architectures.Contains(config.Architecture) || config.ModelType == ModelType;

    /// <summary>The spec for a BERT config; <paramref name="hasTensor"/> picks between bare and <c>bert.</c>-prefixed names.</summary>
    /// <exception cref="QuantSharpException">A config value this implementation does not support.</exception>
    public static ArchitectureSpec Create(ModelConfig config, Func<string, bool>? hasTensor = null)
    {
        Validate(config);
        string prefix = hasTensor is not null && !hasTensor(Probe) && hasTensor("bert." + Probe) ? "bert." : "";
        return new ArchitectureSpec
        {
            Name = config.Architecture,
            Embedding = prefix + Probe,
            PositionEmbedding = prefix + "embeddings.position_embeddings.weight",
            TokenTypeEmbedding = prefix + "embeddings.token_type_embeddings.weight",
            EmbeddingNorm = prefix + "embeddings.LayerNorm.weight",
            LayerPrefix = i => $"{prefix}encoder.layer.{i}.",
            Q = "attention.self.query.weight",
            K = "attention.self.key.weight",
            V = "attention.self.value.weight",
            O = "attention.output.dense.weight",
            AttnNorm = "attention.output.LayerNorm.weight",
            Up = "intermediate.dense.weight",
            Down = "output.dense.weight",
            MlpNorm = "output.LayerNorm.weight",
            QkvBias = true,
            LinearBias = true,
            Norm = NormKind.Layer,
            PostNorm = true,
            Mlp = MlpKind.Gelu,
            Causal = false,
            Rope = RopeStyle.None,
            LastHiddenStateIsNormed = false,
        };
    }

    /// <summary>Checks the BERT-specific config fields.</summary>
    /// <exception cref="QuantSharpException">The first unsupported field.</exception>
    public static void Validate(ModelConfig config)
    {
        string source = $"{config.Architecture} config";
        using JsonDocument doc = JsonDocument.Parse(config.RawJson);
        JsonElement root = doc.RootElement;
        string act = root.TryGetProperty("hidden_act", out JsonElement a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : "gelu";
        if (act != "gelu")
        {
            throw new QuantSharpException($"{source}: hidden_act '{act}' is not supported (only the exact erf 'gelu' of BERT)");
        }

        string positions = root.TryGetProperty("position_embedding_type", out JsonElement p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "absolute";
        if (positions != "absolute")
        {
            throw new QuantSharpException($"{source}: position_embedding_type '{positions}' is not supported (only 'absolute')");
        }

        if (config.HiddenSize != config.Heads * config.HeadDim)
        {
            throw new QuantSharpException($"{source}: hidden_size {config.HiddenSize} is not num_attention_heads {config.Heads} × head size {config.HeadDim}");
        }

        if (config.IntermediateSize <= 0)
        {
            throw new QuantSharpException($"{source}: intermediate_size is missing");
        }
    }
}
