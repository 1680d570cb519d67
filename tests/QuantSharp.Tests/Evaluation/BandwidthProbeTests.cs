using QuantSharp.Evaluation;

namespace QuantSharp.Tests.Evaluation;

public sealed class BandwidthProbeTests
{
    [Fact]
    public void StreamingSumMatchesTheScalarReferenceAtEveryLength()
    {
        var random = new Random(7);
        float[] values = Enumerable.Range(0, 1100).Select(_ => (float)random.Next(-50, 51)).ToArray();
        for (int n = 0; n <= 257; n++)
        {
            Assert.Equal(BandwidthProbe.ReferenceSum(values.AsSpan(0, n)), BandwidthProbe.StreamingSum(values.AsSpan(0, n)));
        }

        foreach (int n in new[] { 511, 512, 513, 1024, 1100 })
        {
            Assert.Equal(BandwidthProbe.ReferenceSum(values.AsSpan(0, n)), BandwidthProbe.StreamingSum(values.AsSpan(0, n)));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void EveryPassReadsEveryValueOnce(int threads)
    {
        var probe = new BandwidthProbe(1L << 20);
        BandwidthResult result = probe.Measure(threads, repeats: 3);
        Assert.Equal(threads, result.Threads);
        Assert.Equal(1L << 20, result.BufferBytes);
        Assert.True(result.ReadGBps >= result.MedianReadGBps && result.MedianReadGBps > 0);
        // The buffer holds 1.0f everywhere: three passes over 262,144 values.
        Assert.Equal(3.0 * (1 << 18), probe.Checksum);
        Assert.True(probe.MeasureCopyGBps(threads, repeats: 2) > 0);
    }
}
