using BenchmarkDotNet.Attributes;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Tensors;

namespace QuantSharp.Benchmarks;

/// <summary>
/// What the kernel benchmarks share: one random <see cref="Rows"/> × <see cref="Cols"/> weight per storage scheme,
/// converted with <see cref="SchemeLinearProvider.Converter"/>, and the pool set to <see cref="Threads"/> threads.
/// 8192 × 8192 is 256 MiB in F32, 128 MiB in F16, 64 MiB in int8/Q8_0 — far beyond the L3, so these stream from
/// memory; the 4-bit and ternary schemes (32 MiB and less) are partly cache-resident.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(KernelThroughputConfig))]
public abstract class KernelBenchmarkBase
{
    /// <summary>Output features of the benchmark weight.</summary>
    public const int Rows = 8192;

    /// <summary>Input features of the benchmark weight (a multiple of 256, as the K-quants need).</summary>
    public const int Cols = 8192;

    private const int SampleRows = 64;
    private static readonly Dictionary<string, long> s_bytes = [];

    /// <summary>The weight being multiplied.</summary>
    protected ILinearWeight Weight { get; private set; } = null!;

    /// <summary>Activations: <see cref="TokensPerCall"/> × <see cref="Cols"/>.</summary>
    protected float[] X { get; private set; } = null!;

    /// <summary>Outputs: <see cref="TokensPerCall"/> × <see cref="Rows"/>.</summary>
    protected float[] Y { get; private set; } = null!;

    /// <summary>Storage scheme (any name <see cref="SchemeLinearProvider.Converter"/> accepts).</summary>
    [Params("f32", "f16", "bf16", "int8", "int4-g32-sym", "int4-g128-asym", "nf4", "ternary-row", "q8_0", "q4_0", "q4_k", "q6_k", "tq2_0")]
    public string Scheme { get; set; } = "f16";

    /// <summary>Worker threads (the throughput columns divide by this: per core).</summary>
    [Params(1)]
    public int Threads { get; set; } = 1;

    /// <summary>Activation rows multiplied per call (1 for decode).</summary>
    protected abstract int TokensPerCall { get; }

    /// <summary>Makes the weight and activations.</summary>
    [GlobalSetup]
    public void Setup()
    {
        WorkerPool.SetSharedThreads(Threads);
        var rng = new Random(1);
        Weight = Make(Scheme, Rows, rng);
        // The throughput columns run in the host process and take the byte count from a 64-row sample; make sure
        // that scales exactly to the weight measured here.
        if (Weight.BytesInMemory != WeightBytes(Scheme))
        {
            throw new InvalidOperationException($"{Scheme}: {Weight.BytesInMemory} bytes in memory, but the {SampleRows}-row sample scales to {WeightBytes(Scheme)}");
        }

        X = new float[TokensPerCall * Cols];
        for (int i = 0; i < X.Length; i++)
        {
            X[i] = (float)(rng.NextDouble() - 0.5);
        }

        Y = new float[TokensPerCall * Rows];
        Console.WriteLine($"// {Scheme}: {Weight.BytesInMemory} bytes, {(double)Weight.BytesInMemory * 8 / ((long)Rows * Cols):F3} bits per weight");
    }

    /// <summary><see cref="ILinearWeight.BytesInMemory"/> of the <see cref="Rows"/> × <see cref="Cols"/> weight in
    /// <paramref name="scheme"/>, computed from a <see cref="SampleRows"/>-row weight (every scheme's storage is per
    /// row), so the host process can report GB/s without quantizing the whole matrix.</summary>
    public static long WeightBytes(string scheme)
    {
        lock (s_bytes)
        {
            if (!s_bytes.TryGetValue(scheme, out long bytes))
            {
                bytes = s_bytes[scheme] = Make(scheme, SampleRows, new Random(1)).BytesInMemory / SampleRows * Rows;
            }

            return bytes;
        }
    }

    private static ILinearWeight Make(string scheme, int rows, Random rng)
    {
        float[] w = new float[(long)rows * Cols];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(rng.NextDouble() - 0.5) * 0.05f;
        }

        return SchemeLinearProvider.Converter(scheme)(TensorView.FromFloats("w", [rows, Cols], w));
    }
}
