using System.Diagnostics;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Tensors;

namespace QuantSharp.Benchmarks;

/// <summary>
/// A fast loop for kernel work (`quick` as the first argument): one random weight per scheme, decode MatVec timed
/// with a stopwatch, best of several passes, printed as G weights/s and GB/s per core. Use BenchmarkDotNet
/// (<see cref="DecodeKernelBenchmarks"/>) for the published figures; this is for comparing two builds quickly.
/// </summary>
/// <remarks>Usage: <c>quick [--schemes a,b] [--rows N] [--cols N] [--threads N] [--passes N] [--tokens N]</c> (tokens &gt; 1 times MatMul, the prefill path; G weights/s then counts weight·token products). The default shape
/// (16384 × 4096, 67 M weights) exceeds the L3 in every scheme above 3 bits per weight.</remarks>
internal static class QuickKernelTimer
{
    public static int Run(string[] args)
    {
        string schemes = "f16,int8,int4-g32-sym,int4-g128-asym,nf4,ternary-row,q8_0,q4_0,q4_k,tq2_0,q2_0";
        int rows = 16384, cols = 4096, threads = 1, passes = 7, tokens = 1;
        for (int i = 1; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--schemes": schemes = args[i + 1]; break;
                case "--rows": rows = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--cols": cols = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--passes": passes = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--tokens": tokens = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        WorkerPool.SetSharedThreads(threads);
        var rng = new Random(1);
        float[] w = new float[(long)rows * cols];
        for (long i = 0; i < w.Length; i++)
        {
            w[i] = (float)((rng.NextDouble() - 0.5) * 0.05);
        }

        TensorView dense = TensorView.FromFloats("w", [rows, cols], w);
        float[] x = Enumerable.Range(0, cols * tokens).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        float[] y = new float[rows * tokens];
        foreach (string scheme in schemes.Split(','))
        {
            ILinearWeight weight = SchemeLinearProvider.Converter(scheme)(dense);
            Multiply(weight, x, tokens, y);
            double best = double.MaxValue;
            for (int p = 0; p < passes; p++)
            {
                long start = Stopwatch.GetTimestamp();
                const int Calls = 4;
                for (int c = 0; c < Calls; c++)
                {
                    Multiply(weight, x, tokens, y);
                }

                best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds / Calls);
            }

            double n = (double)rows * cols * tokens;
            Console.WriteLine($"{scheme,-16} {best * 1e3,8:F3} ms  {n / best / 1e9,6:F2} G weights/s  {weight.BytesInMemory / best / 1e9,6:F2} GB/s  (threads {threads}, tokens {tokens}, y[0] {y[0]:G6})");
        }

        return 0;
    }

    private static void Multiply(ILinearWeight weight, float[] x, int tokens, float[] y)
    {
        if (tokens == 1)
        {
            weight.MatVec(x, y);
        }
        else
        {
            weight.MatMul(x, tokens, y);
        }
    }
}
