using System.Diagnostics;
using System.Runtime.InteropServices;

namespace QuantSharp.Evaluation;

/// <summary>Memory bandwidth measured by <see cref="BandwidthProbe.Measure"/>.</summary>
/// <param name="Threads">Threads that read at once.</param>
/// <param name="BufferBytes">Size of the buffer read (much larger than the last-level cache).</param>
/// <param name="ReadGBps">Best read bandwidth over the repeats, in 10⁹ bytes per second.</param>
/// <param name="MedianReadGBps">Median read bandwidth over the repeats.</param>
public sealed record BandwidthResult(int Threads, long BufferBytes, double ReadGBps, double MedianReadGBps);

/// <summary>
/// Measures how fast this machine streams memory into the cores — the roofline a batch-1 decode kernel is judged
/// against, since it reads every weight once per token. Each of <c>threads</c> dedicated threads sums its contiguous
/// slice of a 64-byte-aligned buffer far larger than the last-level cache with four independent accumulators of the
/// widest vector the CPU has (AVX-512 where present), so the loop is bound by loads, not by an add chain. All threads
/// start together at a barrier; bytes read ÷ (last finish − first start) is one pass, and the best of the passes is
/// the figure.
/// </summary>
public sealed class BandwidthProbe
{
    /// <summary>Default buffer: 512 MiB, 16× a 32 MiB L3.</summary>
    public const long DefaultBytes = 512L << 20;

    private const int Alignment = 64;

    private readonly float[] _storage;
    private readonly int _offset;
    private readonly int _length;

    /// <summary>Allocates (pinned, 64-byte aligned) and touches the buffer, so page faults are not timed.</summary>
    public BandwidthProbe(long bytes = DefaultBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 1L << 20);
        _length = checked((int)(bytes / sizeof(float)));
        _storage = GC.AllocateUninitializedArray<float>(_length + (Alignment / sizeof(float)), pinned: true);
        _offset = AlignedOffset(_storage);
        Data.Fill(1f);
    }

    /// <summary>Sum of everything read so far (kept so the reads cannot be optimised away).</summary>
    public double Checksum { get; private set; }

    /// <summary>Bytes in the buffer.</summary>
    public long BufferBytes => (long)_length * sizeof(float);

    private Span<float> Data => _storage.AsSpan(_offset, _length);

    /// <summary>Reads the whole buffer <paramref name="repeats"/> times with <paramref name="threads"/> threads.</summary>
    public BandwidthResult Measure(int threads, int repeats = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        var rates = new double[repeats];
        double[] sums = RunPasses(threads, repeats, rates, (slice, _) => StreamingSum(slice), BufferBytes);
        Checksum += sums.Sum();
        Array.Sort(rates);
        return new BandwidthResult(threads, BufferBytes, rates[^1], rates[repeats / 2]);
    }

    /// <summary>Copy bandwidth: the first half of the buffer is copied over the second half by <paramref name="threads"/>
    /// threads, counted as bytes read plus bytes written (the STREAM convention); best of <paramref name="repeats"/>.</summary>
    public double MeasureCopyGBps(int threads, int repeats = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        int half = _length / 2;
        var rates = new double[repeats];
        RunPasses(threads, repeats, rates, (_, i) =>
        {
            int start = (int)((long)half * i / threads);
            int end = (int)((long)half * (i + 1) / threads);
            Data.Slice(start, end - start).CopyTo(Data.Slice(half + start, end - start));
            return 0;
        }, 2L * half * sizeof(float));
        return rates.Max();
    }

    /// <summary>
    /// The probe's read loop: the sum of <paramref name="values"/> through four independent vector accumulators
    /// (512-bit where accelerated, else 256-, else 128-bit), then the scalar tail. Exposed for its test against
    /// <see cref="ReferenceSum"/>.
    /// </summary>
    internal static float StreamingSum(ReadOnlySpan<float> values)
    {
        ref float start = ref MemoryMarshal.GetReference(values);
        int n = values.Length;
        int i = 0;
        float total = 0;
        if (Vector512.IsHardwareAccelerated && n >= 4 * Vector512<float>.Count)
        {
            Vector512<float> a = default, b = default, c = default, d = default;
            int w = Vector512<float>.Count;
            for (; i <= n - (4 * w); i += 4 * w)
            {
                a += Vector512.LoadUnsafe(ref start, (nuint)i);
                b += Vector512.LoadUnsafe(ref start, (nuint)(i + w));
                c += Vector512.LoadUnsafe(ref start, (nuint)(i + (2 * w)));
                d += Vector512.LoadUnsafe(ref start, (nuint)(i + (3 * w)));
            }

            total = Vector512.Sum((a + b) + (c + d));
        }
        else if (Vector256.IsHardwareAccelerated && n >= 4 * Vector256<float>.Count)
        {
            Vector256<float> a = default, b = default, c = default, d = default;
            int w = Vector256<float>.Count;
            for (; i <= n - (4 * w); i += 4 * w)
            {
                a += Vector256.LoadUnsafe(ref start, (nuint)i);
                b += Vector256.LoadUnsafe(ref start, (nuint)(i + w));
                c += Vector256.LoadUnsafe(ref start, (nuint)(i + (2 * w)));
                d += Vector256.LoadUnsafe(ref start, (nuint)(i + (3 * w)));
            }

            total = Vector256.Sum((a + b) + (c + d));
        }
        else if (Vector128.IsHardwareAccelerated && n >= 4 * Vector128<float>.Count)
        {
            Vector128<float> a = default, b = default, c = default, d = default;
            int w = Vector128<float>.Count;
            for (; i <= n - (4 * w); i += 4 * w)
            {
                a += Vector128.LoadUnsafe(ref start, (nuint)i);
                b += Vector128.LoadUnsafe(ref start, (nuint)(i + w));
                c += Vector128.LoadUnsafe(ref start, (nuint)(i + (2 * w)));
                d += Vector128.LoadUnsafe(ref start, (nuint)(i + (3 * w)));
            }

            total = Vector128.Sum((a + b) + (c + d));
        }

        for (; i < n; i++)
        {
            total += Unsafe.Add(ref start, i);
        }

        return total;
    }

    /// <summary>Plain scalar sum, the reference <see cref="StreamingSum"/> is tested against.</summary>
    internal static float ReferenceSum(ReadOnlySpan<float> values)
    {
        float total = 0;
        foreach (float v in values)
        {
            total += v;
        }

        return total;
    }

    private static unsafe int AlignedOffset(float[] pinned)
    {
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
        int misalignment = (int)(address & (Alignment - 1));
        return misalignment == 0 ? 0 : (Alignment - misalignment) / sizeof(float);
    }

    /// <summary>Runs <paramref name="repeats"/> passes of <paramref name="work"/> on <paramref name="threads"/>
    /// dedicated threads released together by a barrier; rate of pass r = <paramref name="bytesPerPass"/> ÷ (last
    /// finish − first start). Returns each thread's results summed over the passes.</summary>
    private double[] RunPasses(int threads, int repeats, double[] rates, Func<ReadOnlySpan<float>, int, float> work, long bytesPerPass)
    {
        var starts = new long[threads, repeats];
        var ends = new long[threads, repeats];
        var results = new double[threads];
        using var barrier = new Barrier(threads);
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int index = t;
            workers[t] = new Thread(() =>
            {
                long first = (long)_length * index / threads;
                long last = (long)_length * (index + 1) / threads;
                for (int r = 0; r < repeats; r++)
                {
                    barrier.SignalAndWait();
                    starts[index, r] = Stopwatch.GetTimestamp();
                    results[index] += work(Data.Slice((int)first, (int)(last - first)), index);
                    ends[index, r] = Stopwatch.GetTimestamp();
                }
            }) { IsBackground = true, Name = $"bandwidth-probe-{t}" };
            workers[t].Start();
        }

        foreach (Thread worker in workers)
        {
            worker.Join();
        }

        for (int r = 0; r < repeats; r++)
        {
            long begin = long.MaxValue, finish = long.MinValue;
            for (int t = 0; t < threads; t++)
            {
                begin = Math.Min(begin, starts[t, r]);
                finish = Math.Max(finish, ends[t, r]);
            }

            rates[r] = bytesPerPass / ((double)(finish - begin) / Stopwatch.Frequency) / 1e9;
        }

        return results;
    }
}
