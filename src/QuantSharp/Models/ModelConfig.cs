using QuantSharp.Tokenizers;
using QuantSharp.Kernels;
using System.Text.Json;

namespace QuantSharp.Models;

/// <summary>Hyper-parameters of a transformer (decoder or encoder), read from a Hugging Face <c>config.json</c>.</summary>
public sealed class ModelConfig
{
    /// <summary>First entry of <c>architectures</c> (e.g. <c>LlamaForCausalLM</c>), or <c>model_type</c> when absent.</summary>
    public required string Architecture { get; init; }

    /// <summary><c>model_type</c> (llama, mistral, qwen2, chatglm, …).</summary>
    public string ModelType { get; init; } = "";

    /// <summary>Hidden size (model dimension).</summary>
    public required int HiddenSize { get; init; }

    /// <summary>MLP inner size.</summary>
    public required int IntermediateSize { get; init; }

    /// <summary>Number of transformer blocks.</summary>
    public required int Layers { get; init; }

    /// <summary>Query heads.</summary>
    public required int Heads { get; init; }

    /// <summary>Key/value heads (GQA); equals <see cref="Heads"/> without GQA.</summary>
    public required int KvHeads { get; init; }

    /// <summary>Dimension of one head.</summary>
    public required int HeadDim { get; init; }

    /// <summary>Vocabulary size.</summary>
    public required int VocabSize { get; init; }

    /// <summary>Longest context the model was trained for.</summary>
    public required int MaxPositions { get; init; }

    /// <summary>Norm epsilon (RMSNorm or LayerNorm).</summary>
    public float NormEps { get; init; } = 1e-6f;

    /// <summary>RoPE base.</summary>
    public double RopeTheta { get; init; } = 10000.0;

    /// <summary>Context-extension rescaling of RoPE (<c>rope_scaling</c> llama3 or linear), or null.</summary>
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>Classifier shares the embedding matrix.</summary>
    public bool TieWordEmbeddings { get; init; }

    /// <summary>q/k/v projections carry a bias (Qwen2, <c>attention_bias</c>).</summary>
    public bool AttentionBias { get; init; }

    /// <summary>Beginning-of-sequence token id, if any.</summary>
    public int? BosTokenId { get; init; }

    /// <summary>Padding token id, if the config names one.</summary>
    public int? PadTokenId { get; init; }

    /// <summary>End-of-sequence token ids (config may list several).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>The raw <c>quantization_config</c> object as JSON text, or null for an unquantized checkpoint.</summary>
    public string? QuantizationConfigJson { get; init; }

    /// <summary>The whole config.json as JSON text (architectures with extra fields read it again).</summary>
    public string RawJson { get; init; } = "{}";

    /// <summary>Reads <c>config.json</c> from a checkpoint folder.</summary>
    /// <exception cref="QuantSharpException">Missing file, bad JSON, or a required field missing or invalid.</exception>
    public static ModelConfig Load(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        if (!File.Exists(path))
        {
            throw new QuantSharpException($"{path}: config.json not found (a Hugging Face checkpoint folder needs one)");
        }

        try
        {
            return Parse(File.ReadAllText(path), path);
        }
        catch (JsonException e)
        {
            throw new QuantSharpException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="QuantSharpException">Malformed JSON, a field of the wrong type, or sizes that do not fit together.</exception>
    public static ModelConfig Parse(string json, string source)
    {
        try
        {
            return ParseJson(json, source);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            // Not JSON, or a field of the wrong JSON type (JsonElement throws InvalidOperationException for those).
            throw new QuantSharpException($"{source}: malformed config ({e.Message})", e);
        }
    }

    private static ModelConfig ParseJson(string json, string source)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new QuantSharpException($"{source}: config is not a JSON object");
        }

        string modelType = GetString(root, "model_type") ?? "";
        string? architecture = null;
        if (root.TryGetProperty("architectures", out JsonElement archs) && archs.ValueKind == JsonValueKind.Array && archs.GetArrayLength() > 0)
        {
            architecture = archs[0].GetString();
        }

        architecture ??= modelType;
        if (string.IsNullOrEmpty(architecture))
        {
            throw new QuantSharpException($"{source}: neither 'architectures' nor 'model_type' is set");
        }

        int hidden = RequireInt(root, source, "hidden_size", "n_embd", "d_model");
        int heads = RequireInt(root, source, "num_attention_heads", "n_head");
        int layers = RequireInt(root, source, "num_hidden_layers", "num_layers", "n_layer");
        // GLM: multi_query_group_num only counts when multi_query_attention is on (otherwise every head has its own K/V);
        // kv_channels is GLM's head dim.
        int? glmGroups = GetBool(root, "multi_query_attention") == true ? GetInt(root, "multi_query_group_num") : null;
        int kvHeads = GetInt(root, "num_key_value_heads") ?? glmGroups ?? heads;
        int headDim = GetInt(root, "head_dim") ?? GetInt(root, "kv_channels") ?? (heads > 0 ? hidden / heads : 0);
        int intermediate = GetInt(root, "intermediate_size") ?? GetInt(root, "ffn_hidden_size") ?? 0;
        int vocab = RequireInt(root, source, "vocab_size", "padded_vocab_size");
        int maxPos = GetInt(root, "max_position_embeddings") ?? GetInt(root, "seq_length") ?? 2048;

        if (hidden <= 0 || heads <= 0 || layers <= 0 || kvHeads <= 0 || headDim <= 0 || vocab <= 0 || maxPos <= 0 || intermediate < 0)
        {
            throw new QuantSharpException($"{source}: sizes must be positive (hidden_size {hidden}, heads {heads}, kv heads {kvHeads}, head_dim {headDim}, layers {layers}, vocab {vocab}, context {maxPos})");
        }

        if (heads % kvHeads != 0)
        {
            string kvField = glmGroups is not null && GetInt(root, "num_key_value_heads") is null ? "multi_query_group_num" : "num_key_value_heads";
            throw new QuantSharpException($"{source}: num_attention_heads {heads} is not a multiple of {kvField} {kvHeads}");
        }

        List<int> eos = root.TryGetProperty("eos_token_id", out JsonElement eosElement) ? [.. TokenizerConfig.Ids(eosElement)] : [];

        bool qwen = architecture.StartsWith("Qwen2", StringComparison.Ordinal);
        // Sliding-window attention equals full attention while the sequence fits in the window, so the usable context
        // is capped at the window instead of attending wrongly past it.
        if ((GetBool(root, "use_sliding_window") ?? !qwen) && GetInt(root, "sliding_window") is int window && window > 0)
        {
            maxPos = Math.Min(maxPos, window);
        }
        return new ModelConfig
        {
            Architecture = architecture,
            ModelType = modelType,
            HiddenSize = hidden,
            IntermediateSize = intermediate,
            Layers = layers,
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = vocab,
            MaxPositions = maxPos,
            NormEps = (float)(GetDouble(root, "rms_norm_eps") ?? GetDouble(root, "layernorm_epsilon") ?? GetDouble(root, "layer_norm_eps") ?? 1e-6),
            // GLM-4 scales the base by rope_ratio (ChatGLM3 has no such field: 10000).
            RopeTheta = GetDouble(root, "rope_theta") ?? 10000.0 * (GetDouble(root, "rope_ratio") ?? 1.0),
            RopeScaling = ParseRopeScaling(root, source),
            TieWordEmbeddings = GetBool(root, "tie_word_embeddings") ?? false,
            AttentionBias = GetBool(root, "attention_bias") ?? qwen,
            BosTokenId = GetInt(root, "bos_token_id"),
            PadTokenId = GetInt(root, "pad_token_id"),
            EosTokenIds = eos,
            QuantizationConfigJson = root.TryGetProperty("quantization_config", out JsonElement q) && q.ValueKind == JsonValueKind.Object ? q.GetRawText() : null,
            RawJson = json,
        };
    }

    private static RopeScaling? ParseRopeScaling(JsonElement root, string source)
    {
        if (!root.TryGetProperty("rope_scaling", out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new QuantSharpException($"{source}: rope_scaling is not an object");
        }

        string type = GetString(e, "rope_type") ?? GetString(e, "type") ?? "default";
        double Factor() => GetDouble(e, "factor") is double f && f > 0 ? f
            : throw new QuantSharpException($"{source}: rope_scaling '{type}' needs a positive 'factor'");
        return type switch
        {
            "default" => null,
            "linear" => new RopeScaling("linear", Factor()),
            "llama3" => new RopeScaling("llama3", Factor(), GetDouble(e, "low_freq_factor") ?? 1, GetDouble(e, "high_freq_factor") ?? 4,
                GetInt(e, "original_max_position_embeddings") ?? 8192) is { HighFreqFactor: var hi, LowFreqFactor: var lo } s && hi > lo ? s
                : throw new QuantSharpException($"{source}: rope_scaling llama3 needs high_freq_factor > low_freq_factor"),
            _ => throw new QuantSharpException($"{source}: rope_scaling type '{type}' is not supported (supported: linear, llama3); running it without would give wrong results"),
        };
    }

    private static string? GetString(JsonElement root, string name)
        => root.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;

    internal static int? GetInt(JsonElement root, string name)
        => root.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : null;

    internal static double? GetDouble(JsonElement root, string name)
        => root.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.Number ? e.GetDouble() : null;

    internal static bool? GetBool(JsonElement root, string name)
        => root.TryGetProperty(name, out JsonElement e) && (e.ValueKind == JsonValueKind.True || e.ValueKind == JsonValueKind.False) ? e.GetBoolean() : null;

    private static int RequireInt(JsonElement root, string source, params string[] names)
    {
        foreach (string n in names)
        {
            if (GetInt(root, n) is int v)
            {
                return v;
            }
        }

        throw new QuantSharpException($"{source}: required integer field '{names[0]}' is missing");
    }
}
