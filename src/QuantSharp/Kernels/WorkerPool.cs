using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace QuantSharp.Kernels;

/// <summary>
/// A small fixed pool that splits a range into contiguous chunks and runs them in parallel. The calling thread works
/// too, and chunks are claimed from a shared counter, so a worker that is late (descheduled by a busy neighbour, still
/// waking up) costs only the chunks it did not take: the caller takes them. Idle threads spin for a bounded time
/// (<see cref="SpinMicroseconds"/>, yielding the core to any other runnable thread) and then block on an event, so the
/// pool never burns a core it is not using. Work is passed as a function pointer and a context pointer, so calls
/// allocate nothing.
/// </summary>
/// <remarks>
/// Protocol: <c>_state</c> packs (job generation &lt;&lt; 32 | next chunk). A worker announces itself in
/// <c>_inFlight</c>, reads the state and claims chunks by compare-and-swap on that same generation; the caller claims
/// chunks the same way and, once none is left, waits until <c>_inFlight</c> is 0. A worker arriving after that finds
/// its generation closed (next chunk = int.MaxValue) or a new generation whose job fields were published before it,
/// so a job's context is never used after <see cref="For"/> returned.
/// </remarks>
public sealed unsafe class WorkerPool : IDisposable
{
    /// <summary>How long an idle thread spins (yielding) for the next job or for the last chunk before it blocks. Decode
    /// issues a matrix × vector every few microseconds, so a worker stays awake through a token and sleeps between bursts.</summary>
    public const int SpinMicroseconds = 50;

    private const int ChunksPerThread = 4;
    private static readonly long s_spinTicks = Math.Max(1, Stopwatch.Frequency * SpinMicroseconds / 1_000_000);
    private static WorkerPool? s_shared;
    private static readonly object s_sharedGate = new();

    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim[] _wake;
    private readonly ManualResetEventSlim _idle = new(false, 0);
    private readonly object _gate = new();
    private delegate*<void*, int, int, void> _body;
    private void* _context;
    private int _count;
    private int _chunks;
    private int _grain;
    private long _state;
    private int _inFlight;
    private Exception? _error;
    private volatile bool _stopping;

    /// <summary>Creates a pool that runs work on <paramref name="threads"/> threads (the caller's included).</summary>
    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        _threads = new Thread[threads - 1];
        _wake = new ManualResetEventSlim[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            ManualResetEventSlim wake = _wake[i] = new ManualResetEventSlim(false, 0);
            _threads[i] = new Thread(() => WorkerLoop(wake)) { IsBackground = true, Name = $"quantsharp-worker-{i + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>Threads used per call, the caller's included.</summary>
    public int Threads { get; }

    /// <summary>The pool kernels use; defaults to one thread per core. Replace it to change the thread count.</summary>
    public static WorkerPool Shared
    {
        get
        {
            if (s_shared is null)
            {
                lock (s_sharedGate)
                {
                    s_shared ??= new WorkerPool(Environment.ProcessorCount);
                }
            }

            return s_shared;
        }
    }

    /// <summary>Replaces the shared pool with one of <paramref name="threads"/> threads.</summary>
    public static void SetSharedThreads(int threads)
    {
        lock (s_sharedGate)
        {
            if (s_shared is not null && s_shared.Threads == threads)
            {
                return;
            }

            WorkerPool? old = s_shared;
            s_shared = new WorkerPool(threads);
            old?.Dispose();
        }
    }

    /// <summary>
    /// Runs <c>body(context, start, end)</c> over [0, <paramref name="count"/>) cut into contiguous chunks whose
    /// boundaries are multiples of <paramref name="grain"/>, on up to <see cref="Threads"/> threads. Work smaller than
    /// 2 × <paramref name="minPerThread"/> items stays on the calling thread. <c>body</c> may run several times per
    /// thread and must not depend on which thread runs which chunk.
    /// </summary>
    public void For(int count, delegate*<void*, int, int, void> body, void* context, int grain = 1, int minPerThread = 1)
    {
        if (count <= 0)
        {
            return;
        }

        grain = Math.Max(1, grain);
        int units = (count + grain - 1) / grain;
        int slices = Math.Min(Threads, Math.Max(1, count / Math.Max(1, minPerThread)));
        slices = Math.Min(slices, units);
        if (slices <= 1)
        {
            body(context, 0, count);
            return;
        }

        lock (_gate)
        {
            _body = body;
            _context = context;
            _count = count;
            _grain = grain;
            _chunks = Math.Min(units, slices * ChunksPerThread);
            _error = null;
            _idle.Reset();
            int generation = unchecked((int)(Volatile.Read(ref _state) >> 32) + 1);
            Interlocked.Exchange(ref _state, (long)generation << 32);
            for (int i = 0; i < slices - 1; i++)
            {
                _wake[i].Set();
            }

            try
            {
                RunChunks(generation);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
            }

            // Close the job: a worker that arrives late can no longer claim a chunk of it, whatever the job fields
            // say by then (the next job may already be writing them).
            Interlocked.Exchange(ref _state, ((long)generation << 32) | int.MaxValue);
            WaitForWorkers();
            if (_error is not null)
            {
                ExceptionDispatchInfo.Throw(_error);
            }
        }
    }

    /// <summary>Claims and runs chunks of job <paramref name="generation"/> until none is left.</summary>
    private void RunChunks(int generation)
    {
        while (true)
        {
            long state = Volatile.Read(ref _state);
            int next = (int)state;
            if ((int)(state >> 32) != generation || next >= _chunks)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _state, state + 1, state) == state)
            {
                (int start, int end) = SliceBounds(_count, _chunks, _grain, next);
                if (start < end)
                {
                    _body(_context, start, end);
                }
            }
        }
    }

    private void WaitForWorkers()
    {
        long deadline = Stopwatch.GetTimestamp() + s_spinTicks;
        var spin = new SpinWait();
        while (Volatile.Read(ref _inFlight) != 0)
        {
            if (Stopwatch.GetTimestamp() < deadline)
            {
                spin.SpinOnce(sleep1Threshold: -1);
                continue;
            }

            _idle.Reset();
            if (Volatile.Read(ref _inFlight) == 0)
            {
                break;
            }

            _idle.Wait(1);
        }
    }

    /// <summary>The [start, end) of slice <paramref name="index"/> when <paramref name="count"/> items are cut into
    /// <paramref name="slices"/> parts aligned to <paramref name="grain"/>.</summary>
    internal static (int Start, int End) SliceBounds(int count, int slices, int grain, int index)
    {
        int units = (count + grain - 1) / grain;
        long startUnit = (long)units * index / slices;
        long endUnit = (long)units * (index + 1) / slices;
        return ((int)Math.Min(count, startUnit * grain), (int)Math.Min(count, endUnit * grain));
    }

    private void WorkerLoop(ManualResetEventSlim wake)
    {
        int seen = 0;
        while (!_stopping)
        {
            if ((int)(Volatile.Read(ref _state) >> 32) == seen && !SpinForJob(seen))
            {
                wake.Reset();
                if ((int)(Volatile.Read(ref _state) >> 32) == seen && !_stopping)
                {
                    wake.Wait();
                }

                continue;
            }

            Interlocked.Increment(ref _inFlight);
            int generation = (int)(Volatile.Read(ref _state) >> 32);
            try
            {
                RunChunks(generation);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
                Interlocked.Exchange(ref _state, ((long)generation << 32) | int.MaxValue);
            }

            seen = generation;
            if (Interlocked.Decrement(ref _inFlight) == 0)
            {
                _idle.Set();
            }
        }
    }

    /// <summary>Spins (yielding) for up to <see cref="SpinMicroseconds"/> until a job newer than <paramref name="seen"/>
    /// is published; false when none came.</summary>
    private bool SpinForJob(int seen)
    {
        long deadline = Stopwatch.GetTimestamp() + s_spinTicks;
        var spin = new SpinWait();
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if ((int)(Volatile.Read(ref _state) >> 32) != seen || _stopping)
            {
                return true;
            }

            spin.SpinOnce(sleep1Threshold: -1);
        }

        return false;
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        _stopping = true;
        foreach (ManualResetEventSlim e in _wake)
        {
            e.Set();
        }
    }
}
