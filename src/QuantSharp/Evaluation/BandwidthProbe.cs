using System.Diagnostics;
using System.Numerics.Tensors;

namespace QuantSharp.Evaluation;

/// <summary>Measured memory bandwidth of this machine, in GB/s (10⁹ bytes per second).</summary>
/// <param name="ReadGBps">Reading a large buffer (a vectorised sum), all threads.</param>
/// <param name="CopyGBps">Copying a large buffer, counted as bytes read plus bytes written (the STREAM convention), all threads.</param>
/// <param name="BufferBytes">Size of each buffer.</param>
/// <param name="Threads">Threads used.</param>
public sealed record BandwidthResult(double ReadGBps, double CopyGBps, long BufferBytes, int Threads);

/// <summary>
/// A simple memory-bandwidth probe: the reference for "GB/s of packed weights streamed per token". Buffers are far
/// larger than the caches; each figure is the best of several passes, split over <c>threads</c> contiguous slices.
/// </summary>
public static class BandwidthProbe
{
    /// <summary>Measures read and copy bandwidth over buffers of <paramref name="bufferBytes"/> (default 256 MiB).</summary>
    public static BandwidthResult Measure(long bufferBytes = 256L << 20, int passes = 5, int threads = 0)
    {
        if (bufferBytes < 1 << 20 || passes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(bufferBytes), "need at least 1 MiB and one pass");
        }

        threads = threads > 0 ? threads : Environment.ProcessorCount;
        int n = checked((int)(bufferBytes / sizeof(float)));
        float[] source = new float[n];
        float[] destination = new float[n];
        source.AsSpan().Fill(1f);
        destination.AsSpan().Fill(2f); // touch every page before timing
        int slice = (n + threads - 1) / threads;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        double[] sums = new double[threads];

        double bestRead = double.MaxValue, bestCopy = double.MaxValue;
        for (int p = 0; p < passes; p++)
        {
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, options, t =>
            {
                int start = Math.Min(n, t * slice);
                sums[t] += TensorPrimitives.Sum(source.AsSpan(start, Math.Min(slice, n - start)));
            });
            bestRead = Math.Min(bestRead, clock.Elapsed.TotalSeconds);

            clock.Restart();
            Parallel.For(0, threads, options, t =>
            {
                int start = Math.Min(n, t * slice);
                int length = Math.Min(slice, n - start);
                source.AsSpan(start, length).CopyTo(destination.AsSpan(start, length));
            });
            bestCopy = Math.Min(bestCopy, clock.Elapsed.TotalSeconds);
        }

        if (sums.Sum() != (double)n * passes || destination[n - 1] != 1f)
        {
            throw new InvalidOperationException("bandwidth probe: buffers were not read/copied completely");
        }

        long bytes = (long)n * sizeof(float);
        return new BandwidthResult(bytes / bestRead / 1e9, 2.0 * bytes / bestCopy / 1e9, bytes, threads);
    }
}
