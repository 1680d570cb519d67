namespace QuantSharp.Models;

/// <summary>The activation buffers one transformer block needs for up to <c>rows</c> token rows (normed input,
/// q/k/v, attention output, projection, MLP gate/up and the fused QKV or gate-up product), shared by the forward
/// paths (<see cref="ForwardPass"/>, <see cref="BlockRunner"/>) so both size them the same way.</summary>
internal sealed class BlockBuffers
{
    /// <summary>Allocates the buffers of <paramref name="rows"/> rows for <paramref name="config"/> and <paramref name="spec"/>.</summary>
    public BlockBuffers(ModelConfig config, ArchitectureSpec spec, int rows)
    {
        QDim = config.Heads * config.HeadDim;
        KvDim = config.KvHeads * config.HeadDim;
        Xn = new float[rows * config.HiddenSize];
        Q = new float[rows * QDim];
        K = new float[rows * KvDim];
        V = new float[rows * KvDim];
        Att = new float[rows * QDim];
        O = new float[rows * config.HiddenSize];
        Gate = new float[rows * config.IntermediateSize];
        Up = new float[spec.Mlp == MlpKind.SwiGlu ? rows * config.IntermediateSize : 0];
        Fused = new float[rows * Math.Max(spec.Qkv is null ? 0 : QDim + (2 * KvDim), spec.GateUp is null ? 0 : 2 * config.IntermediateSize)];
    }

    /// <summary>Query width (heads × head size).</summary>
    public int QDim { get; }

    /// <summary>Key/value width (KV heads × head size).</summary>
    public int KvDim { get; }

    /// <summary>Normed block input.</summary>
    public float[] Xn { get; }

    /// <summary>Queries.</summary>
    public float[] Q { get; }

    /// <summary>Keys.</summary>
    public float[] K { get; }

    /// <summary>Values.</summary>
    public float[] V { get; }

    /// <summary>Attention output.</summary>
    public float[] Att { get; }

    /// <summary>Output projection / MLP down projection.</summary>
    public float[] O { get; }

    /// <summary>MLP gate (or the single up projection of a GELU MLP).</summary>
    public float[] Gate { get; }

    /// <summary>MLP up projection (SwiGLU only).</summary>
    public float[] Up { get; }

    /// <summary>Fused QKV or gate-up output.</summary>
    public float[] Fused { get; }

    /// <summary>Bytes of all the buffers.</summary>
    public long Bytes => 4L * (Xn.Length + Q.Length + K.Length + V.Length + Att.Length + O.Length + Gate.Length + Up.Length + Fused.Length);
}
