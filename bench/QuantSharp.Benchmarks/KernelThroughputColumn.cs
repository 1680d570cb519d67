using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace QuantSharp.Benchmarks;

/// <summary>
/// A summary column computed from the mean time of a <see cref="KernelBenchmarkBase"/> case: weight bytes streamed
/// per second (<see cref="KernelBenchmarkBase.WeightBytes"/> / mean) or weights multiplied per second
/// (Rows · Cols · tokens / mean), both divided by the case's thread count (per core).
/// </summary>
public sealed class KernelThroughputColumn : IColumn
{
    private readonly bool _bytes;

    private KernelThroughputColumn(bool bytes) => _bytes = bytes;

    /// <summary>GB/s per core: the weight's bytes in memory once per call.</summary>
    public static KernelThroughputColumn GBps { get; } = new(bytes: true);

    /// <summary>G weights/s per core: Rows · Cols · tokens multiply-adds per call.</summary>
    public static KernelThroughputColumn GWeightsPerSecond { get; } = new(bytes: false);

    /// <inheritdoc />
    public string Id => _bytes ? "GBps/core" : "GWeights/s/core";

    /// <inheritdoc />
    public string ColumnName => _bytes ? "GB/s/core" : "Gw/s/core";

    /// <inheritdoc />
    public bool AlwaysShow => true;

    /// <inheritdoc />
    public ColumnCategory Category => ColumnCategory.Custom;

    /// <inheritdoc />
    public int PriorityInCategory => _bytes ? 0 : 1;

    /// <inheritdoc />
    public bool IsNumeric => true;

    /// <inheritdoc />
    public UnitType UnitType => UnitType.Dimensionless;

    /// <inheritdoc />
    public string Legend => _bytes
        ? "Weight bytes in memory (ILinearWeight.BytesInMemory) per mean call time, per thread (1e9 B/s)"
        : "Weights multiplied (rows · cols · tokens) per mean call time, per thread (1e9 /s)";

    /// <inheritdoc />
    public bool IsAvailable(Summary summary) => true;

    /// <inheritdoc />
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (meanNs is not > 0 || Parameter(benchmarkCase, "Scheme") is not string scheme)
        {
            return "-";
        }

        int threads = Parameter(benchmarkCase, "Threads") as int? ?? 1;
        int tokens = Parameter(benchmarkCase, "Tokens") as int? ?? 1;
        double perCall = _bytes
            ? KernelBenchmarkBase.WeightBytes(scheme)
            : (double)KernelBenchmarkBase.Rows * KernelBenchmarkBase.Cols * tokens;
        return (perCall / meanNs.Value / threads).ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static object? Parameter(BenchmarkCase benchmarkCase, string name)
        => benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == name)?.Value;

    /// <inheritdoc />
    public override string ToString() => ColumnName;
}

/// <summary>Adds the two <see cref="KernelThroughputColumn"/>s to the default configuration.</summary>
public sealed class KernelThroughputConfig : ManualConfig
{
    /// <summary>The columns.</summary>
    public KernelThroughputConfig() => AddColumn(KernelThroughputColumn.GBps, KernelThroughputColumn.GWeightsPerSecond);
}
