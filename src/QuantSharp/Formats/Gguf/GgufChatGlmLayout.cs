namespace QuantSharp.Formats.Gguf;

/// <summary>
/// How llama.cpp lays out a GLM checkpoint (ChatGLM2/ChatGLM3, GLM-4) in GGUF: architecture <c>chatglm</c>, the fused
/// query/key/value projection <c>blk.N.attn_qkv</c> with its bias, the fused gate-first <c>blk.N.ffn_up</c> (llama.cpp
/// splits it into the SiLU half and the linear half), and RoPE on the first half of each head as adjacent pairs
/// (<c>LLAMA_ROPE_TYPE_NORM</c> over <c>chatglm.rope.dimension_count</c> = head dim / 2), which is GLM's own order, so no
/// rows are permuted. The other names are <see cref="GgufLlamaLayout"/>'s.
/// </summary>
public static class GgufChatGlmLayout
{
    /// <summary><c>general.architecture</c> of GLM files.</summary>
    public const string Architecture = "chatglm";

    /// <summary>Block-relative name of the fused [Q | K | V] projection.</summary>
    public const string Qkv = "attn_qkv.weight";

    /// <summary>Block-relative name of the fused [gate | up] projection.</summary>
    public const string GateUp = GgufLlamaLayout.Up;
}
