using BenchmarkDotNet.Attributes;
using QuantSharp.Kernels;
using QuantSharp.Quantization;

namespace QuantSharp.Benchmarks;

/// <summary>Decode (MatVec) on a 4096×4096 weight for each packed scheme, next to dense F32; 0 B allocated per call expected.</summary>
[MemoryDiagnoser]
public class QuantizedMatVecBenchmarks
{
    private const int Size = 4096;
    private ILinearWeight _weight = null!;
    private float[] _x = null!;
    private float[] _y = null!;

    [Params("f32", "int8", "int4-g128-asym", "int4-g32-sym", "nf4", "nf4-dq", "fp4", "ternary-row")]
    public string Scheme { get; set; } = "int8";

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        float[] w = new float[Size * Size];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
        }

        _weight = Scheme == "f32"
            ? new DenseLinear(QuantSharp.Tensors.TensorView.FromFloats("w", [Size, Size], w))
            : QuantizedLinear.Quantize("w", w, Size, Size, QuantSpec.ParseName(Scheme));
        _x = new float[Size];
        for (int i = 0; i < Size; i++)
        {
            _x[i] = (float)(rng.NextDouble() - 0.5);
        }

        _y = new float[Size];
    }

    [Benchmark]
    public void MatVec() => _weight.MatVec(_x, _y);
}

/// <summary>Prefill (MatMul, 32 tokens) on a 4096×1024 weight per packed scheme.</summary>
[MemoryDiagnoser]
public class QuantizedMatMulBenchmarks
{
    private const int Rows = 4096, Cols = 1024, Tokens = 32;
    private ILinearWeight _weight = null!;
    private float[] _x = null!;
    private float[] _y = null!;

    [Params("int8", "int4-g128-asym", "nf4", "ternary-row")]
    public string Scheme { get; set; } = "int8";

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(2);
        float[] w = new float[Rows * Cols];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
        }

        _weight = QuantizedLinear.Quantize("w", w, Rows, Cols, QuantSpec.ParseName(Scheme));
        _x = new float[Tokens * Cols];
        for (int i = 0; i < _x.Length; i++)
        {
            _x[i] = (float)(rng.NextDouble() - 0.5);
        }

        _y = new float[Tokens * Rows];
    }

    [Benchmark]
    public void MatMul() => _weight.MatMul(_x, Tokens, _y);
}
