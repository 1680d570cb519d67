using QuantSharp.Kernels;

namespace QuantSharp.Tests.Kernels;

/// <summary>The attention kernel (vectorised for head dims that are multiples of 8, library calls otherwise) against a
/// scalar double-precision reference of causal grouped-query attention.</summary>
public class AttentionTests
{
    [Theory]
    [InlineData(64, 4, 2, 37, 1)]    // decode: one token after 37 cached ones, 2 query heads per KV head
    [InlineData(64, 4, 2, 0, 9)]     // prefill of 9 tokens
    [InlineData(40, 2, 1, 5, 3)]     // head dim 40: one 32-wide block plus one 8-wide block
    [InlineData(12, 3, 3, 4, 2)]     // head dim 12: not a multiple of 8, library path
    public void MatchesScalarReference(int hd, int heads, int kvHeads, int start, int tokens)
    {
        var r = new Random(hd * 100 + start);
        int positions = start + tokens;
        using var cache = new KvCache(1, kvHeads, hd, positions + 1);
        float[][] keys = new float[positions][], values = new float[positions][];
        for (int p = 0; p < positions; p++)
        {
            keys[p] = Enumerable.Range(0, kvHeads * hd).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
            values[p] = Enumerable.Range(0, kvHeads * hd).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
            cache.Store(0, p, keys[p], values[p]);
        }

        float[] q = Enumerable.Range(0, tokens * heads * hd).Select(_ => (float)(r.NextDouble() * 4 - 2)).ToArray();
        float[] output = new float[q.Length];
        Attention.Run(q, output, cache, 0, heads, start, tokens);

        int group = heads / kvHeads;
        for (int t = 0; t < tokens; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                int kvh = h / group;
                int n = start + t + 1;
                double[] scores = new double[n];
                for (int p = 0; p < n; p++)
                {
                    double dot = 0;
                    for (int i = 0; i < hd; i++)
                    {
                        dot += (double)q[(t * heads + h) * hd + i] * keys[p][kvh * hd + i];
                    }

                    scores[p] = dot / Math.Sqrt(hd);
                }

                double max = scores.Max();
                double sum = scores.Sum(s => Math.Exp(s - max));
                for (int i = 0; i < hd; i++)
                {
                    double expected = 0;
                    for (int p = 0; p < n; p++)
                    {
                        expected += Math.Exp(scores[p] - max) / sum * values[p][kvh * hd + i];
                    }

                    Assert.True(Math.Abs(expected - output[(t * heads + h) * hd + i]) < 1e-5, $"t {t} head {h} dim {i}: {output[(t * heads + h) * hd + i]} vs {expected}");
                }
            }
        }
    }

    /// <summary>The chunk-claiming pool: 2000 back-to-back jobs of varying size and grain, every index exactly once
    /// (a late worker must never run a chunk of a finished job).</summary>
    [Fact]
    public void WorkerPoolRunsEveryIndexOnceUnderManyCalls()
    {
        using var pool = new WorkerPool(3);
        int[] hits = new int[1000];
        for (int round = 0; round < 2000; round++)
        {
            int count = 1 + (round * 37 % 1000);
            unsafe
            {
                fixed (int* p = hits)
                {
                    var job = new CountJob { Hits = p };
                    pool.For(count, &CountJob.Run, &job, grain: 1 + (round % 5), minPerThread: 1);
                }
            }

            for (int i = 0; i < hits.Length; i++)
            {
                Assert.Equal(i < count ? 1 : 0, hits[i]);
                hits[i] = 0;
            }
        }
    }

    private unsafe struct CountJob
    {
        public int* Hits;

        public static void Run(void* context, int start, int end)
        {
            int* hits = ((CountJob*)context)->Hits;
            for (int i = start; i < end; i++)
            {
                Interlocked.Increment(ref hits[i]);
            }
        }
    }
}
