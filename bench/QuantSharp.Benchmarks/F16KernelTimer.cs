using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QuantSharp.Kernels;

namespace QuantSharp.Benchmarks;

/// <summary>
/// A/B timer for the F16 decode kernels (`quick-f16` as the first argument): the exact-conversion kernel
/// (<see cref="DenseRowKernels"/> with <see cref="F16Loader"/>, the path before the inf/NaN-free kernels and still the
/// one for tensors holding inf/NaN) against <see cref="F16RowKernels"/>' AVX2 and AVX-512 paths, alternated pass by
/// pass in one process so a busy machine affects all alike. Rows are split over the shared pool as DenseLinear does.
/// </summary>
/// <remarks>Usage: <c>quick-f16 [--rows N] [--cols N] [--threads N] [--passes N] [--subnormal] [--offset B]</c>;
/// <c>--subnormal</c> fills the matrix with subnormal halves only (to check that F32-subnormal raw bits cost no slow
/// path); <c>--offset</c> starts the matrix B bytes (even) past a 64-byte boundary, as a memory-mapped tensor may.</remarks>
internal static unsafe class F16KernelTimer
{
    private struct Job
    {
        public byte* W;
        public int Cols;
        public float* X;
        public float* Scaled;
        public int Shift;
        public float* Y;
        public int Kernel;
    }

    public static int Run(string[] args)
    {
        int rows = 16384, cols = 4096, threads = 1, passes = 7, offset = 0;
        bool subnormal = false;
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--rows": rows = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--cols": cols = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--passes": passes = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--subnormal": subnormal = true; break;
                case "--offset": offset = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture) & ~1; break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        WorkerPool.SetSharedThreads(threads);
        long n = (long)rows * cols;
        ushort* w = (ushort*)((byte*)NativeMemory.AlignedAlloc((nuint)((n * 2) + offset), 64) + offset);
        var rng = new Random(1);
        for (long i = 0; i < n; i++)
        {
            w[i] = subnormal
                ? (ushort)(rng.Next(1, 1024) | (rng.Next(2) << 15))
                : BitConverter.HalfToUInt16Bits((Half)((rng.NextDouble() - 0.5) * 0.05));
        }

        float* x = (float*)NativeMemory.AlignedAlloc((nuint)cols * 4, 64);
        float* scaled = (float*)NativeMemory.AlignedAlloc((nuint)cols * 4, 64);
        float* y = (float*)NativeMemory.AlignedAlloc((nuint)rows * 4, 64);
        for (int i = 0; i < cols; i++)
        {
            x[i] = (float)(rng.NextDouble() - 0.5);
        }

        string[] names = ["exact (before)", "avx2", "avx512"];
        int kernels = KernelIsa.UseAvx512 ? 3 : 2;
        var best = new double[kernels];
        Array.Fill(best, double.MaxValue);
        var first = new float[kernels];
        for (int p = 0; p < passes; p++)
        {
            for (int kernel = 0; kernel < kernels; kernel++)
            {
                var job = new Job { W = (byte*)w, Cols = cols, X = x, Scaled = scaled, Y = y, Kernel = kernel };
                MatVec(&job, rows);
                long start = Stopwatch.GetTimestamp();
                const int Calls = 4;
                for (int c = 0; c < Calls; c++)
                {
                    MatVec(&job, rows);
                }

                best[kernel] = Math.Min(best[kernel], Stopwatch.GetElapsedTime(start).TotalSeconds / Calls);
                first[kernel] = y[0];
            }
        }

        Console.WriteLine($"F16 decode {rows}×{cols}{(subnormal ? " (all subnormal)" : "")}{(offset != 0 ? $" at 64-byte boundary + {offset}" : "")}, threads {threads}, best of {passes}:");
        for (int kernel = 0; kernel < kernels; kernel++)
        {
            Console.WriteLine($"{names[kernel],-16} {best[kernel] * 1e3,8:F3} ms  {n / best[kernel] / 1e9,6:F2} G weights/s  {2 * n / best[kernel] / 1e9,6:F2} GB/s  ×{best[0] / best[kernel]:F2}  (y[0] {first[kernel]:G6})");
        }

        return 0;
    }

    /// <summary>One MatVec as DenseLinear runs it: activations scaled once (new kernels), rows split over the pool.</summary>
    private static void MatVec(Job* job, int rows)
    {
        if (job->Kernel != 0)
        {
            job->Shift = F16RowKernels.ScaleActivations(new ReadOnlySpan<float>(job->X, job->Cols), new Span<float>(job->Scaled, job->Cols));
        }

        WorkerPool.Shared.For(rows, &Slice, job, grain: 16, minPerThread: Math.Max(16, 32768 / job->Cols));
    }

    private static void Slice(void* context, int start, int end)
    {
        ref Job job = ref Unsafe.AsRef<Job>(context);
        switch (job.Kernel)
        {
            case 0: DenseRowKernels.MatVecRows<F16Loader>(job.W, job.Cols, job.X, job.Y, start, end); break;
            case 1: F16RowKernels.MatVecRowsAvx2(job.W, job.Cols, job.Scaled, job.Shift, job.Y, start, end); break;
            default: F16RowKernels.MatVecRowsAvx512(job.W, job.Cols, job.Scaled, job.Shift, job.Y, start, end); break;
        }
    }
}
