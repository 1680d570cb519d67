using QuantSharp.Kernels;

namespace QuantSharp.Tests.Kernels;

/// <summary>GELU and LayerNorm (BERT's kernels) against double-precision references; the CI's AVX-512-off pass runs
/// them on the 256-bit paths.</summary>
public sealed class EncoderKernelTests
{
    [Fact]
    public void GeluMatchesItsScalarReferenceAndKnownValues()
    {
        float[] x = [.. Enumerable.Range(-800, 1601).Select(i => i / 100f)];
        float[] y = (float[])x.Clone();
        Gelu.Apply(y);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.True(Math.Abs(y[i] - Gelu.Reference(x[i])) <= 1e-6 * Math.Max(1, Math.Abs(x[i])), $"x = {x[i]}");
        }

        // x·Φ(x) from the normal CDF: Φ(1) = 0.841344746, Φ(−0.5) = 0.308537539, Φ(2.5) = 0.993790335.
        Assert.Equal(0.841344746, Gelu.Reference(1f), 6);
        Assert.Equal(-0.5 * 0.308537539, Gelu.Reference(-0.5f), 6);
        Assert.Equal(2.5 * 0.993790335, Gelu.Reference(2.5f), 6);
    }

    [Fact]
    public void LayerNormMatchesADoublePrecisionReference()
    {
        var random = new Random(3);
        float[] x = [.. Enumerable.Range(0, 384).Select(_ => (float)((random.NextDouble() * 8) - 3))];
        float[] w = [.. Enumerable.Range(0, 384).Select(_ => (float)random.NextDouble())];
        float[] b = [.. Enumerable.Range(0, 384).Select(_ => (float)(random.NextDouble() - 0.5))];
        float[] y = new float[384];
        LayerNorm.Apply(x, w, b, 1e-12f, y);
        double mean = x.Average(v => (double)v);
        double variance = x.Average(v => (v - mean) * (v - mean));
        for (int i = 0; i < x.Length; i++)
        {
            double expected = ((x[i] - mean) / Math.Sqrt(variance + 1e-12) * w[i]) + b[i];
            Assert.True(Math.Abs(expected - y[i]) <= 2e-6, $"i = {i}");
        }
    }
}
