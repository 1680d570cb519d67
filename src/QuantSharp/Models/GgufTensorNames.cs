using QuantSharp.Formats.Gguf;

namespace QuantSharp.Models;

/// <summary>The GGUF (llama.cpp) names of a model's block linears, for files that name weights the llama.cpp way
/// (importance matrices) while the checkpoint uses Hugging Face names.</summary>
public static class GgufTensorNames
{
    /// <summary>Hugging Face name → GGUF name of every block linear of a Llama-family (separate q/k/v, gate/up) or GLM
    /// (fused qkv and gate/up) model with <paramref name="layers"/> blocks; empty for other architectures.</summary>
    public static IReadOnlyDictionary<string, string> BlockLinears(ArchitectureSpec spec, int layers)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        (string? Hf, string Gguf)[] pairs = spec switch
        {
            { Qkv: not null, GateUp: not null } => [(spec.Qkv, GgufChatGlmLayout.Qkv), (spec.O, GgufLlamaLayout.O), (spec.GateUp, GgufChatGlmLayout.GateUp), (spec.Down, GgufLlamaLayout.Down)],
            { Q: not null, K: not null, V: not null, Gate: not null, Up: not null } => [(spec.Q, GgufLlamaLayout.Q), (spec.K, GgufLlamaLayout.K), (spec.V, GgufLlamaLayout.V),
                (spec.O, GgufLlamaLayout.O), (spec.Gate, GgufLlamaLayout.Gate), (spec.Up, GgufLlamaLayout.Up), (spec.Down, GgufLlamaLayout.Down)],
            _ => [],
        };
        for (int i = 0; i < layers; i++)
        {
            foreach ((string? hf, string gguf) in pairs)
            {
                names[spec.LayerPrefix(i) + hf] = GgufLlamaLayout.Block(i) + gguf;
            }
        }

        return names;
    }
}
