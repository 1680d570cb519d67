using BenchmarkDotNet.Attributes;

namespace QuantSharp.Benchmarks;

/// <summary>
/// Prefill: one MatMul of <see cref="Tokens"/> activation rows per call over the 8192 × 8192 weight of
/// <see cref="KernelBenchmarkBase"/>, per storage scheme. G weights/s counts every weight once per token
/// (multiply-adds / s); GB/s is the weight's bytes once per call.
/// </summary>
/// <remarks>Commands as for <see cref="DecodeKernelBenchmarks"/>, with <c>*PrefillKernelBenchmarks*</c>.</remarks>
public class PrefillKernelBenchmarks : KernelBenchmarkBase
{
    /// <summary>Activation rows (prompt tokens) per call.</summary>
    [Params(32)]
    public int Tokens { get; set; } = 32;

    /// <inheritdoc />
    protected override int TokensPerCall => Tokens;

    /// <summary>Y = X · Wᵀ.</summary>
    [Benchmark]
    public void MatMul() => Weight.MatMul(X, Tokens, Y);
}
