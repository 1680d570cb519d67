using BenchmarkDotNet.Attributes;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Benchmarks;

/// <summary>
/// Decode MatVec per storage scheme on one core over an 8192×8192 weight (256 MiB in F32, 128 MiB in F16, 64 MiB in
/// int8 — far beyond the L3, so these stream from memory; int4 and ternary are smaller and partly cache-resident).
/// GB/s = <see cref="ILinearWeight.BytesInMemory"/> / mean time; weights/s = 67.1 M / mean time. 0 B allocated per call.
/// </summary>
[MemoryDiagnoser]
public class DecodeKernelBenchmarks
{
    private const int Size = 8192;
    private ILinearWeight _weight = null!;
    private float[] _x = null!;
    private float[] _y = null!;

    [Params("f32", "f16", "bf16", "int8", "int4-g32-sym", "int4-g128-asym", "nf4", "ternary-row")]
    public string Scheme { get; set; } = "f16";

    [Params(1)]
    public int Threads { get; set; } = 1;

    [GlobalSetup]
    public void Setup()
    {
        WorkerPool.SetSharedThreads(Threads);
        var rng = new Random(1);
        float[] w = new float[Size * Size];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(rng.NextDouble() - 0.5) * 0.05f;
        }

        TensorView dense = TensorView.FromFloats("w", [Size, Size], w);
        _weight = SchemeLinearProvider.Converter(Scheme)(dense);
        _x = new float[Size];
        for (int i = 0; i < Size; i++)
        {
            _x[i] = (float)(rng.NextDouble() - 0.5);
        }

        _y = new float[Size];
        Console.WriteLine($"// {Scheme}: {_weight.BytesInMemory} bytes");
    }

    [Benchmark]
    public void MatVec() => _weight.MatVec(_x, _y);
}

/// <summary>The fused F16 kernel against the previous approach (convert a row to F32 scratch, then TensorPrimitives.Dot),
/// on one core over a 128 MiB F16 matrix.</summary>
[MemoryDiagnoser]
public unsafe class F16FusionBenchmarks
{
    private const int Rows = 16384, Cols = 4096;
    private Half[] _w = null!;
    private float[] _x = null!;
    private float[] _y = null!;
    private float[] _row = null!;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        _w = new Half[Rows * Cols];
        for (int i = 0; i < _w.Length; i++)
        {
            _w[i] = (Half)((rng.NextDouble() - 0.5) * 0.05);
        }

        _x = Enumerable.Range(0, Cols).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        _y = new float[Rows];
        _row = new float[Cols];
    }

    [Benchmark(Baseline = true)]
    public void ConvertThenDot()
    {
        for (int r = 0; r < Rows; r++)
        {
            System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(_w.AsSpan(r * Cols, Cols), _row);
            _y[r] = System.Numerics.Tensors.TensorPrimitives.Dot(_row, _x);
        }
    }

    [Benchmark]
    public void Fused()
    {
        fixed (Half* w = _w)
        fixed (float* x = _x, y = _y)
        {
            DenseRowKernels.MatVecRows<F16Loader>((byte*)w, Cols, x, y, 0, Rows);
        }
    }
}
