using BenchmarkDotNet.Attributes;
using QuantSharp.Kernels;

namespace QuantSharp.Benchmarks;

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
