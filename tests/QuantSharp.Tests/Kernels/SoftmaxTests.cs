using QuantSharp.Kernels;
using QuantSharp.Models;

namespace QuantSharp.Tests.Kernels;

/// <summary>Softmax of large values stays finite (attention scores, logits at a low temperature).</summary>
public sealed class SoftmaxTests
{
    [Fact]
    public void LargeValuesGiveTheSameDistributionAsShiftedOnes()
    {
        float[] big = [1000f, 999f, 990f, -5f];
        float[] small = [10f, 9f, 0f, -995f];
        Softmax.InPlace(big);
        Softmax.InPlace(small);
        Assert.All(big, v => Assert.True(float.IsFinite(v)));
        for (int i = 0; i < big.Length; i++)
        {
            Assert.Equal(small[i], big[i], 6);
        }

        Assert.Equal(1.0, big.Sum(), 5);
    }

    [Fact]
    public void SamplingAtALowTemperatureWithLargeLogitsPicksTheTopToken()
    {
        float[] logits = [.. Enumerable.Range(0, 100).Select(i => i == 37 ? 40f : 30f + (i % 7))];
        var sampler = new Sampler(new SamplingOptions { Temperature = 0.05f, Seed = 3 }, logits.Length);
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(37, sampler.Next((float[])logits.Clone(), []));
        }
    }
}
