using System.Diagnostics;
using System.Numerics.Tensors;

namespace QuantSharp.Evaluation;

/// <summary>Memory bandwidth measured by <see cref="BandwidthProbe.Measure"/>.</summary>
/// <param name="Threads">Threads that read at once.</param>
/// <param name="BufferBytes">Size of the buffer read (much larger than the last-level cache).</param>
/// <param name="ReadGBps">Best read bandwidth over the repeats, in 10⁹ bytes per second.</param>
/// <param name="MedianReadGBps">Median read bandwidth over the repeats.</param>
public sealed record BandwidthResult(int Threads, long BufferBytes, double ReadGBps, double MedianReadGBps);

/// <summary>
/// Measures how fast this machine streams memory into the cores: each of <c>threads</c> threads sums its contiguous
/// slice of a float buffer far larger than the last-level cache (vectorised <see cref="TensorPrimitives.Sum(ReadOnlySpan{float})"/>,
/// which is load-bound), and the bytes read over the wall time of the slowest thread is the bandwidth. This is the
/// roofline a batch-1 decode kernel is judged against: it must read every weight once per token.
/// </summary>
public sealed class BandwidthProbe
{
    /// <summary>Default buffer: 512 MiB, 16× a 32 MiB L3.</summary>
    public const long DefaultBytes = 512L << 20;

    private readonly float[] _buffer;

    /// <summary>Allocates and touches the buffer (so page faults are not timed).</summary>
    public BandwidthProbe(long bytes = DefaultBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1L << 20);
        _buffer = GC.AllocateUninitializedArray<float>(checked((int)(bytes / sizeof(float))));
        _buffer.AsSpan().Fill(1f);
    }

    /// <summary>Sum of everything read so far (kept so the reads cannot be optimised away).</summary>
    public double Checksum { get; private set; }

    /// <summary>Bytes in the buffer.</summary>
    public long BufferBytes => (long)_buffer.Length * sizeof(float);

    /// <summary>Reads the whole buffer <paramref name="repeats"/> times with <paramref name="threads"/> threads.</summary>
    public BandwidthResult Measure(int threads, int repeats = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        var rates = new double[repeats];
        var sums = new float[threads];
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            if (threads == 1)
            {
                sums[0] = TensorPrimitives.Sum(_buffer);
            }
            else
            {
                Parallel.For(0, threads, options, i =>
                {
                    long start = (long)_buffer.Length * i / threads;
                    long end = (long)_buffer.Length * (i + 1) / threads;
                    sums[i] = TensorPrimitives.Sum(_buffer.AsSpan((int)start, (int)(end - start)));
                });
            }

            rates[r] = BufferBytes / clock.Elapsed.TotalSeconds / 1e9;
            Checksum += sums.Sum();
        }

        Array.Sort(rates);
        return new BandwidthResult(threads, BufferBytes, rates[^1], rates[repeats / 2]);
    }

    /// <summary>Copy bandwidth: the first half of the buffer is copied over the second half by <paramref name="threads"/>
    /// threads, counted as bytes read plus bytes written (the STREAM convention); best of <paramref name="repeats"/>.</summary>
    public double MeasureCopyGBps(int threads, int repeats = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        int half = _buffer.Length / 2;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, options, i =>
            {
                int start = (int)((long)half * i / threads);
                int end = (int)((long)half * (i + 1) / threads);
                _buffer.AsSpan(start, end - start).CopyTo(_buffer.AsSpan(half + start, end - start));
            });
            best = Math.Max(best, 2.0 * half * sizeof(float) / clock.Elapsed.TotalSeconds / 1e9);
        }

        return best;
    }
}
