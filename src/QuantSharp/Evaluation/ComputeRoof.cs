using System.Diagnostics;
using QuantSharp.Kernels;

namespace QuantSharp.Evaluation;

/// <summary>
/// The arithmetic limit of a weight format's decode kernel: weights per second one thread multiplies (MatVec) when the
/// weight sits in its core's L2 cache, so memory does not limit it. With the bandwidth probe it gives the two roofs a
/// decode speed is judged against: a format is bandwidth-bound when streaming its bytes takes longer than multiplying
/// them, compute-bound otherwise.
/// </summary>
public static class ComputeRoof
{
    /// <summary>Bytes of weight the measured matrix holds at most: well inside a 1 MiB L2 beside the activations.</summary>
    public const long TargetBytes = 256 << 10;

    /// <summary>Rows of a matrix that fill about <see cref="TargetBytes"/> at
    /// <paramref name="bytesPerRow"/> bytes a row (a multiple of 16, at least 16).</summary>
    public static int Rows(long bytesPerRow) => (int)Math.Max(16, TargetBytes / Math.Max(1, bytesPerRow) / 16 * 16);

    /// <summary>
    /// Times <paramref name="weight"/>'s MatVec on the calling thread alone (the caller sets
    /// <see cref="WorkerPool.Shared"/> to one thread): after a 200 ms warm-up (which lets the JIT finish optimizing), the best of five batches of about 50 ms.
    /// </summary>
    /// <returns>Weights multiplied per second by one thread.</returns>
    public static double WeightsPerSecond(ILinearWeight weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var rng = new Random(1);
        float[] x = new float[weight.Cols];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        float[] y = new float[weight.Rows];
        long weights = (long)weight.Rows * weight.Cols;
        int calls = 1;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalMilliseconds < 200)
        {
            weight.MatVec(x, y);
            calls++;
        }

        calls = Math.Max(1, calls / 4);
        double best = 0;
        for (int batch = 0; batch < 5; batch++)
        {
            clock.Restart();
            for (int i = 0; i < calls; i++)
            {
                weight.MatVec(x, y);
            }

            best = Math.Max(best, weights * (double)calls / clock.Elapsed.TotalSeconds);
        }

        return best;
    }
}
