using BenchmarkDotNet.Attributes;

namespace QuantSharp.Benchmarks;

/// <summary>
/// Decode: one MatVec per call over the 8192 × 8192 weight of <see cref="KernelBenchmarkBase"/>, per storage scheme;
/// the GB/s and G weights/s per core columns (<see cref="KernelThroughputColumn"/>) and 0 B allocated per call.
/// </summary>
/// <remarks>
/// The full table, decode and prefill (13 schemes each; minutes — run it on an otherwise idle machine):
/// <code>dotnet run -c Release --project bench/QuantSharp.Benchmarks -- --filter '*DecodeKernelBenchmarks*' '*PrefillKernelBenchmarks*'</code>
/// One scheme (the filter also matches the parameters in a case's full name), e.g. q4_k decode:
/// <code>dotnet run -c Release --project bench/QuantSharp.Benchmarks -- --filter '*DecodeKernelBenchmarks*q4_k*'</code>
/// Add <c>--job dry</c> for a smoke test of the setup, the columns and the allocation count (one cold call: its
/// time includes the JIT and means nothing). Threads: <c>Threads</c> is a parameter (default 1); the columns divide
/// by it, so 2 threads at the bandwidth limit show half the GB/s per core.
/// </remarks>
public class DecodeKernelBenchmarks : KernelBenchmarkBase
{
    /// <inheritdoc />
    protected override int TokensPerCall => 1;

    /// <summary>y = W · x.</summary>
    [Benchmark]
    public void MatVec() => Weight.MatVec(X, Y);
}
