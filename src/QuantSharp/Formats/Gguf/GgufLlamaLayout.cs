namespace QuantSharp.Formats.Gguf;

/// <summary>
/// How llama.cpp lays out a Llama checkpoint in GGUF: tensor names (<c>token_embd</c>, <c>blk.N.attn_q</c>, …) and the
/// row order of the q/k projections.
/// </summary>
/// <remarks>
/// llama.cpp applies RoPE to adjacent pairs (2i, 2i + 1) of a head, while Hugging Face Llama rotates (i, i + d/2).
/// Its converter therefore permutes the q and k rows of every head (<c>convert_hf_to_gguf.py</c>'s <c>permute</c>:
/// <c>w.reshape(heads, 2, d/2, in).swapaxes(1, 2)</c>): Hugging Face row <c>h·d + a·d/2 + b</c> (a ∈ {0, 1}) is GGUF
/// row <c>h·d + 2b + a</c>. Rows are whole (a block never spans rows), so the permutation moves packed rows without
/// touching their bytes, and it commutes with quantization.
/// </remarks>
public static class GgufLlamaLayout
{
    /// <summary>Token embedding.</summary>
    public const string Embedding = "token_embd.weight";

    /// <summary>Final norm.</summary>
    public const string FinalNorm = "output_norm.weight";

    /// <summary>Classifier (absent when tied to the embedding).</summary>
    public const string Output = "output.weight";

    /// <summary>Divisor of each rotated pair's RoPE frequency (llama3/linear <c>rope_scaling</c>), absent without scaling.</summary>
    public const string RopeFrequencies = "rope_freqs.weight";

    /// <summary>Prefix of block <paramref name="layer"/>'s tensors.</summary>
    public static string Block(int layer) => $"blk.{layer}.";

    /// <summary>Block-relative names, in forward order.</summary>
    public const string AttnNorm = "attn_norm.weight", Q = "attn_q.weight", K = "attn_k.weight", V = "attn_v.weight",
        O = "attn_output.weight", FfnNorm = "ffn_norm.weight", Gate = "ffn_gate.weight", Up = "ffn_up.weight", Down = "ffn_down.weight";

    /// <summary>The GGUF row that holds Hugging Face row <paramref name="row"/> of a q or k projection with heads of
    /// <paramref name="headDim"/> (even) rows.</summary>
    public static int GgufRowOfHfRow(int row, int headDim)
    {
        int half = headDim / 2;
        int head = row / headDim, i = row % headDim;
        return head * headDim + 2 * (i % half) + i / half;
    }

    /// <summary>True for a q or k projection name (<c>blk.N.attn_q.weight</c> / <c>blk.N.attn_k.weight</c>).</summary>
    public static bool IsRopePermuted(string ggufName) => ggufName.EndsWith("." + Q, StringComparison.Ordinal) || ggufName.EndsWith("." + K, StringComparison.Ordinal);
}
