namespace QuantSharp.Kernels;

/// <summary>
/// What every <see cref="ILinearWeight"/> does around its kernels: refuses buffers that do not fit, decides how many
/// threads a product is worth, and runs the format's row function over slices of the rows on
/// <see cref="WorkerPool.Shared"/>. A format supplies only that function and its job struct (the weight's pointers,
/// the prepared activations, the output). Slices start at multiples of the grain (the row tile of the kernel) and never
/// change results: each output row is computed whole by one thread.
/// </summary>
internal static unsafe class LinearDriver
{
    /// <summary>Weights × tokens of work below which a thread is not worth waking (≈ 64 K multiply-adds).</summary>
    private const long MinWorkPerThread = 65536;

    /// <summary>Refuses <paramref name="tokens"/> ≤ 0, or <paramref name="x"/>/<paramref name="y"/> shorter than tokens × Cols / tokens × Rows.</summary>
    /// <exception cref="ArgumentException">The sizes do not fit.</exception>
    public static void CheckSizes(string name, int rows, int cols, int x, int tokens, int y)
    {
        if (tokens <= 0 || x < (long)tokens * cols || y < (long)tokens * rows)
        {
            throw new ArgumentException($"{name}: expected x of {tokens}×{cols} and y of {tokens}×{rows}, got {x} and {y}");
        }
    }

    /// <summary>Refuses a row outside the matrix or a destination (its length) shorter than a row.</summary>
    /// <exception cref="ArgumentException">Either is out of range.</exception>
    public static void CheckRow(string name, int rows, int cols, int row, int destination)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)rows, nameof(row));
        if (destination < cols)
        {
            throw new ArgumentException($"{name}: destination holds {destination} floats, a row has {cols}", nameof(destination));
        }
    }

    /// <summary>Rows per thread below which a product of <paramref name="cols"/>-wide rows and <paramref name="tokens"/>
    /// tokens stays on fewer threads (at least <paramref name="grain"/>).</summary>
    public static int MinRowsPerThread(int cols, int tokens, int grain)
        => (int)Math.Max(grain, Math.Max(8, MinWorkPerThread / Math.Max(1L, (long)cols * tokens)));

    /// <summary>Decode kernels take rows 4 at a time; multi-token kernels the interleaved prefill tile (8 rows).</summary>
    public static int Grain(int tokens) => tokens >= 2 ? InterleavedPrefill.Rows : 4;

    /// <summary>Runs <paramref name="rowsOf"/>(job, start, end) over <paramref name="rows"/> rows in slices of whole
    /// <paramref name="grain"/>s, on as many threads as <paramref name="cols"/> × <paramref name="tokens"/> of work per
    /// row is worth (<see cref="MinRowsPerThread"/>, or <paramref name="minPerThread"/> where the kernel needs more).</summary>
    /// <typeparam name="T">The job struct; it lives on the caller's stack for the duration of the call.</typeparam>
    public static void Run<T>(ref T job, delegate*<ref T, int, int, void> rowsOf, int rows, int cols, int tokens, int grain, int minPerThread = 0)
        where T : struct
    {
        var call = new Call<T> { Job = Unsafe.AsPointer(ref job), RowsOf = rowsOf };
        WorkerPool.Shared.For(rows, &Slice<T>, &call, grain, Math.Max(minPerThread, MinRowsPerThread(cols, tokens, grain)));
    }

    private struct Call<T>
        where T : struct
    {
        public void* Job;
        public delegate*<ref T, int, int, void> RowsOf;
    }

    private static void Slice<T>(void* context, int start, int end)
        where T : struct
    {
        ref Call<T> call = ref Unsafe.AsRef<Call<T>>(context);
        call.RowsOf(ref Unsafe.AsRef<T>(call.Job), start, end);
    }
}
