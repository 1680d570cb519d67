namespace QuantSharp.Cli;

/// <summary>
/// <c>synth --config</c> presets: the seeds' models. ChatGLM3-6B and GLM-4-9B use the real config.json and tokenizer in
/// the project's shared data; the Llama presets carry their published config.json values (Llama-2-7b-hf,
/// Llama-3.1-8B with GQA 8, rope_scaling llama3 and a 128256 vocabulary) and take the tokenizer from shared data.
/// </summary>
internal static class ConfigPresets
{
    public static readonly string[] Names = ["chatglm3-6b", "glm4-9b", "llama-2-7b", "llama-3.1-8b"];

    private const string Llama2_7b = """
        {
          "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
          "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
          "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "hidden_act": "silu",
          "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"
        }
        """;

    private const string Llama31_8b = """
        {
          "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
          "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
          "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "hidden_act": "silu",
          "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
          "tie_word_embeddings": false, "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16"
        }
        """;

    /// <summary>The config JSON, the tokenizer folder to copy (null: none found) and a name for the report.</summary>
    /// <exception cref="UsageException">Neither a file nor a preset, or a preset whose shared files are missing.</exception>
    public static (string Json, string? Tokenizer, string Origin) Resolve(string given)
    {
        if (File.Exists(given))
        {
            return (File.ReadAllText(given), null, given);
        }

        return given switch
        {
            "chatglm3-6b" => Shared(given, "chatglm3-tokenizer"),
            "glm4-9b" => Shared(given, Path.Combine("tokenizers", "glm4")),
            "llama-2-7b" => (Llama2_7b, SharedFolder("llama2-tokenizer"), "llama-2-7b (published config.json values)"),
            "llama-3.1-8b" => (Llama31_8b, SharedFolder(Path.Combine("tokenizers", "llama3")), "llama-3.1-8b (published config.json values)"),
            _ => throw new UsageException($"--config {given}: no such file, and not a preset ({string.Join(", ", Names)})"),
        };
    }

    private static (string, string?, string) Shared(string preset, string folder)
    {
        string path = SharedFolder(folder) ?? throw new UsageException($"--config {preset}: needs ../shared/models/{folder}/config.json (the project's shared data), which was not found; give a config.json path instead");
        return (File.ReadAllText(Path.Combine(path, "config.json")), path, $"{preset} ({Path.Combine(path, "config.json")})");
    }

    private static string? SharedFolder(string folder)
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "shared", "models", folder);
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
