using System.Runtime.ExceptionServices;

namespace QuantSharp.Kernels;

/// <summary>
/// A small fixed pool that splits a range into contiguous slices, one per thread, and runs them in parallel.
/// Idle workers block on an event (a short bounded spin first, then a kernel wait), so a busy neighbour core is
/// never starved by spinning. Work is passed as a function pointer and a context pointer, so calls allocate nothing.
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    private const int SpinBeforeBlocking = 20;
    private static WorkerPool? s_shared;
    private static readonly object s_sharedGate = new();

    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim[] _start;
    private readonly ManualResetEventSlim _done = new(false, SpinBeforeBlocking);
    private readonly object _gate = new();
    private delegate*<void*, int, int, void> _body;
    private void* _context;
    private int _count;
    private int _slices;
    private int _grain;
    private int _pending;
    private Exception? _error;
    private volatile bool _stopping;

    /// <summary>Creates a pool that runs work on <paramref name="threads"/> threads (the caller's included).</summary>
    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        _threads = new Thread[threads - 1];
        _start = new ManualResetEventSlim[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            int index = i + 1;
            _start[i] = new ManualResetEventSlim(false, SpinBeforeBlocking);
            _threads[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"quantsharp-worker-{index}" };
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
    /// Runs <c>body(context, start, end)</c> over [0, <paramref name="count"/>) split into at most <see cref="Threads"/>
    /// contiguous slices whose boundaries are multiples of <paramref name="grain"/>. Slices smaller than
    /// <paramref name="minPerThread"/> items are not split off, so small jobs stay on the calling thread.
    /// </summary>
    public void For(int count, delegate*<void*, int, int, void> body, void* context, int grain = 1, int minPerThread = 1)
    {
        if (count <= 0)
        {
            return;
        }

        int slices = Math.Min(Threads, Math.Max(1, count / Math.Max(1, minPerThread)));
        slices = Math.Min(slices, (count + grain - 1) / grain);
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
            _slices = slices;
            _grain = grain;
            _error = null;
            _pending = slices - 1;
            _done.Reset();
            for (int i = 1; i < slices; i++)
            {
                _start[i - 1].Set();
            }

            try
            {
                RunSlice(0);
            }
            catch (Exception e)
            {
                _error ??= e;
            }

            _done.Wait();
            if (_error is not null)
            {
                ExceptionDispatchInfo.Throw(_error);
            }
        }
    }

    private void RunSlice(int index)
    {
        (int start, int end) = SliceBounds(_count, _slices, _grain, index);
        if (start < end)
        {
            _body(_context, start, end);
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

    private void WorkerLoop(int index)
    {
        ManualResetEventSlim start = _start[index - 1];
        while (true)
        {
            start.Wait();
            start.Reset();
            if (_stopping)
            {
                return;
            }

            try
            {
                RunSlice(index);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
            }

            if (Interlocked.Decrement(ref _pending) == 0)
            {
                _done.Set();
            }
        }
    }

    /// <summary>Stops the worker threads.</summary>
    public void Dispose()
    {
        _stopping = true;
        foreach (ManualResetEventSlim e in _start)
        {
            e.Set();
        }
    }
}
