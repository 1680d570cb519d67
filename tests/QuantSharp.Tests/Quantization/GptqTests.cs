using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

/// <summary>GPTQ: linear algebra, error compensation beating round-to-nearest, act-order with g_idx.</summary>
public sealed class GptqTests
{
    /// <summary>Correlated inputs: x = z·A with a random mixing matrix, plus per-channel scale spread.</summary>
    internal static float[] CorrelatedInputs(int tokens, int cols, int seed)
    {
        var rng = new Random(seed);
        float[] mix = new float[cols * cols];
        for (int i = 0; i < mix.Length; i++)
        {
            mix[i] = (float)(rng.NextDouble() - 0.5);
        }

        float[] x = new float[tokens * cols];
        float[] z = new float[cols];
        for (int t = 0; t < tokens; t++)
        {
            for (int i = 0; i < cols; i++)
            {
                z[i] = (float)Gaussian(rng) * (i % 7 == 0 ? 4f : 1f);
            }

            for (int j = 0; j < cols; j++)
            {
                double s = 0;
                for (int i = 0; i < cols; i++)
                {
                    s += z[i] * mix[(i * cols) + j];
                }

                x[(t * cols) + j] = (float)s;
            }
        }

        return x;
    }

    internal static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    internal static double OutputError(float[] w, float[] q, float[] x, int rows, int cols, int tokens)
    {
        double e = 0;
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < rows; r++)
            {
                double s = 0;
                for (int c = 0; c < cols; c++)
                {
                    s += ((double)w[(r * cols) + c] - q[(r * cols) + c]) * x[(t * cols) + c];
                }

                e += s * s;
            }
        }

        return e / tokens;
    }

    internal static float[] Dequantize(ILinearWeight w)
    {
        float[] d = new float[w.Rows * w.Cols];
        for (int r = 0; r < w.Rows; r++)
        {
            w.DequantizeRow(r, d.AsSpan(r * w.Cols, w.Cols));
        }

        return d;
    }

    [Fact]
    public void Cholesky_FactorInverseAndUpperOfInverse()
    {
        int n = 37;
        var rng = new Random(3);
        double[] b = new double[n * n];
        for (int i = 0; i < b.Length; i++)
        {
            b[i] = rng.NextDouble() - 0.5;
        }

        double[] a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double s = i == j ? 0.5 : 0;
                for (int k = 0; k < n; k++)
                {
                    s += b[(i * n) + k] * b[(j * n) + k];
                }

                a[(i * n) + j] = s;
            }
        }

        double[] l = (double[])a.Clone();
        Assert.True(Cholesky.FactorLower(l, n));
        double[] inv = Cholesky.InverseFromLower(l, n);
        Assert.True(Cholesky.UpperOfInverse(a, n, out double[] u));
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double llt = 0, ainv = 0, utu = 0;
                for (int k = 0; k < n; k++)
                {
                    llt += l[(i * n) + k] * l[(j * n) + k];
                    ainv += a[(i * n) + k] * inv[(k * n) + j];
                    utu += u[(k * n) + i] * u[(k * n) + j];
                }

                Assert.Equal(a[(i * n) + j], llt, 1e-10);
                Assert.Equal(i == j ? 1.0 : 0.0, ainv, 1e-8);
                Assert.Equal(inv[(i * n) + j], utu, 1e-8);
                if (i > j)
                {
                    Assert.Equal(0.0, u[(i * n) + j]);
                }
            }
        }

        double[] notPd = new double[4] { 1, 2, 2, 1 };
        Assert.False(Cholesky.FactorLower(notPd, 2));
    }

    [Theory]
    [InlineData("int4-g64-asym", 0.75)]
    [InlineData("int4-g64-sym", 0.75)]
    [InlineData("int3-g64-asym", 0.7)]
    [InlineData("int2-g32-asym", 0.7)]
    [InlineData("ternary-row", 0.8)]
    public void Gptq_BeatsRoundToNearest_OnCorrelatedInputs(string specName, double maxRatio)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        int rows = 48, cols = 128, tokens = 1024;
        float[] w = QuantTestData.Random(rows, cols, 11);
        float[] x = CorrelatedInputs(tokens, cols, 12);
        var acc = new HessianAccumulator(cols);
        for (int t = 0; t < tokens; t += 256)
        {
            acc.Add(x.AsSpan(t * cols, 256 * cols), 256);
        }

        LayerQuantResult gptq = Gptq.Quantize("w", w, rows, cols, acc.Covariance(), spec);
        ILinearWeight packed = QuantizedLinear.Create(gptq.Packed);
        float[] decoded = Dequantize(packed);
        Assert.Equal(gptq.Dequantized, decoded);
        float[] rtn = Dequantize(QuantizedLinear.Quantize("w", w, rows, cols, spec));
        double eGptq = OutputError(w, decoded, x, rows, cols, tokens);
        double eRtn = OutputError(w, rtn, x, rows, cols, tokens);
        Assert.True(eGptq < maxRatio * eRtn, $"{specName}: GPTQ {eGptq:G4} vs RTN {eRtn:G4}");
        Assert.Equal(eGptq, gptq.Loss, eGptq * 1e-3);
    }

    [Fact]
    public void ActOrder_GIdxRoundTripsThroughSaveAndLoad()
    {
        int rows = 16, cols = 96, tokens = 512;
        float[] w = QuantTestData.Random(rows, cols, 21);
        float[] x = CorrelatedInputs(tokens, cols, 22);
        var acc = new HessianAccumulator(cols);
        acc.Add(x, tokens);
        double[] cov = acc.Covariance();
        QuantSpec spec = QuantSpec.Int3(32);
        LayerQuantResult r = Gptq.Quantize("model.layers.0.mlp.up_proj.weight", w, rows, cols, cov, spec, new GptqOptions { ActOrder = true });
        Assert.NotNull(r.GIdx);

        // g_idx follows descending Hessian diagonal: the 32 largest-diagonal columns form group 0, etc.
        int[] order = [.. Enumerable.Range(0, cols).OrderByDescending(c => cov[(c * cols) + c]).ThenBy(c => c)];
        for (int j = 0; j < cols; j++)
        {
            Assert.Equal(j / 32, r.GIdx![order[j]]);
        }

        var linear = (IntGroupLinear)QuantizedLinear.Create(r.Packed);
        Assert.True(linear.HasGIdx);
        Assert.Equal(r.Dequantized, Dequantize(linear));

        using var dir = new TempDir();
        string path = dir.File("w.safetensors");
        using (var writer = new SafetensorsWriter(dir.Path))
        {
            QuantizedLinear.Write(writer, "model.layers.0.mlp.up_proj.weight", linear);
            writer.Commit(path);
        }

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Contains("model.layers.0.mlp.up_proj.g_idx", file.Tensors.Keys);
        PackedLinear loaded = QuantizedLinear.Load("model.layers.0.mlp.up_proj.weight", file.Tensors);
        Assert.IsType<IntGroupLinear>(loaded);
        Assert.Equal(r.Dequantized, Dequantize(loaded));

        // The generic kernel matches its scalar reference.
        float[] xs = QuantTestData.Random(5, cols, 23);
        float[] fast = new float[5 * rows], slow = new float[5 * rows];
        loaded.MatMul(xs, 5, fast);
        ((IntGroupLinear)loaded).MultiplyReference(xs, 5, slow);
        for (int i = 0; i < fast.Length; i++)
        {
            Assert.Equal(slow[i], fast[i], 1e-4f);
        }
    }

    [Fact]
    public void DeadColumns_AreZeroedAndDoNotBreakTheFactorization()
    {
        int rows = 8, cols = 64, tokens = 256;
        float[] w = QuantTestData.Random(rows, cols, 31);
        float[] x = CorrelatedInputs(tokens, cols, 32);
        for (int t = 0; t < tokens; t++)
        {
            x[(t * cols) + 5] = 0;
        }

        var acc = new HessianAccumulator(cols);
        acc.Add(x, tokens);
        LayerQuantResult r = Gptq.Quantize("w", w, rows, cols, acc.Covariance(), QuantSpec.Int4(32));
        Assert.All(r.Dequantized, v => Assert.True(float.IsFinite(v)));
        Assert.IsType<Int4Linear>(QuantizedLinear.Create(r.Packed));
    }
}
