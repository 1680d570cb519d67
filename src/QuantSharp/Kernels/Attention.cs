using System.Numerics.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// Causal grouped-query attention over a <see cref="KvCache"/>: for each new token t (at position start + t) and query
/// head h, effectively <c>out = softmax(q·Kᵀ / sqrt(d)) · V</c> over positions [keyStart, start + t] of KV head h / group.
/// </summary>
[SkipLocalsInit]
internal static unsafe class Attention
{
    private struct Job
    {
        public float* Q;
        public float* Out;
        public float* Keys;
        public float* Values;
        public int Heads;
        public int KvHeads;
        public int HeadDim;
        public int Start;
        public int KeyStart;
        public long HeadStride;
        public float Scale;
        public bool Causal;
        public bool PadRowsSeeAll;
        public int Tokens;
    }

    /// <summary>Runs attention for <paramref name="tokens"/> new tokens whose keys/values are already in the cache.</summary>
    /// <param name="q">tokens × heads × headDim queries (already rotated).</param>
    /// <param name="output">tokens × heads × headDim results.</param>
    /// <param name="cache">The cache holding positions [0, start + tokens).</param>
    /// <param name="layer">Layer index into the cache.</param>
    /// <param name="heads">Query heads.</param>
    /// <param name="start">Position of the first new token.</param>
    /// <param name="tokens">New tokens.</param>
    /// <param name="keyStart">First key position that may be attended to (left padding masks the ones before).</param>
    /// <param name="causal">False lets every query see all keys in [keyStart, start + tokens).</param>
    /// <param name="padRowsSeeAllKeys">Query rows at positions before <paramref name="keyStart"/> (left padding) see every
    /// key in [0, start + tokens), as THUDM GLM's mask builds them; otherwise their output is zero.</param>
    public static void Run(ReadOnlySpan<float> q, Span<float> output, KvCache cache, int layer, int heads, int start, int tokens, int keyStart = 0, bool causal = true, bool padRowsSeeAllKeys = false)
    {
        int hd = cache.HeadDim;
        if (q.Length < (long)tokens * heads * hd || output.Length < (long)tokens * heads * hd)
        {
            throw new ArgumentException("q/output too short for tokens × heads × headDim");
        }

        fixed (float* pq = q, po = output)
        {
            var job = new Job
            {
                Q = pq,
                Out = po,
                Keys = cache.Keys(layer, 0),
                Values = cache.Values(layer, 0),
                Heads = heads,
                KvHeads = cache.KvHeads,
                HeadDim = hd,
                Start = start,
                KeyStart = keyStart,
                HeadStride = (long)cache.MaxPositions * hd,
                Scale = 1f / MathF.Sqrt(hd),
                Causal = causal,
                PadRowsSeeAll = padRowsSeeAllKeys,
                Tokens = tokens,
            };
            int work = tokens * heads;
            WorkerPool.Shared.For(work, &Slice, &job, grain: 1, minPerThread: Math.Max(1, 4096 / Math.Max(1, (start + tokens) * hd / 64)));
        }
    }

    private static void Slice(void* context, int begin, int end)
    {
        ref Job job = ref Unsafe.AsRef<Job>(context);
        int hd = job.HeadDim;
        int group = job.Heads / job.KvHeads;
        float* scores = ThreadScratch.Floats(job.Start + job.Tokens);
        for (int w = begin; w < end; w++)
        {
            int t = w / job.Heads;
            int h = w % job.Heads;
            int kvh = h / group;
            int last = job.Causal ? job.Start + t : job.Start + job.Tokens - 1;
            int first = job.KeyStart;
            if (job.PadRowsSeeAll && job.Start + t < job.KeyStart)
            {
                first = 0;
                last = job.Start + job.Tokens - 1;
            }

            float* q = job.Q + ((long)t * job.Heads + h) * hd;
            float* o = job.Out + ((long)t * job.Heads + h) * hd;
            float* keys = job.Keys + kvh * job.HeadStride;
            float* values = job.Values + kvh * job.HeadStride;
            int n = last - first + 1;
            var qs = new ReadOnlySpan<float>(q, hd);
            var os = new Span<float>(o, hd);
            if (n <= 0)
            {
                os.Clear();
                continue;
            }

            var s = new Span<float>(scores, n);
            keys += (long)first * hd;
            values += (long)first * hd;
            if (Vector256.IsHardwareAccelerated && hd % 8 == 0)
            {
                for (int p = 0; p < n; p++)
                {
                    s[p] = Dot8(q, keys + (long)p * hd, hd) * job.Scale;
                }

                Softmax.InPlace(s);
                WeightedSum8(scores, values, n, hd, o);
                continue;
            }

            for (int p = 0; p < n; p++)
            {
                s[p] = TensorPrimitives.Dot(qs, new ReadOnlySpan<float>(keys + (long)p * hd, hd)) * job.Scale;
            }

            Softmax.InPlace(s);
            os.Clear();
            for (int p = 0; p < n; p++)
            {
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + (long)p * hd, hd), s[p], os, os);
            }
        }
    }

    /// <summary>q·k for a head dimension that is a multiple of 8, inlined (one call per cached position is too many
    /// for a library call: decode of a small model spends most of its attention time in call overhead otherwise).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot8(float* a, float* b, int n)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), acc1);
        }

        if (i < n)
        {
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc0);
        }

        return Vector256.Sum(acc0 + acc1);
    }

    /// <summary>out = Σ_p w[p] · v[p] for a head dimension that is a multiple of 8, 32 outputs held in registers
    /// across all positions.</summary>
    private static void WeightedSum8(float* w, float* v, int n, int hd, float* output)
    {
        int c = 0;
        for (; c + 32 <= hd; c += 32)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            float* row = v + c;
            for (int p = 0; p < n; p++, row += hd)
            {
                Vector256<float> wp = Vector256.Create(w[p]);
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(row), wp, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 8), wp, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 16), wp, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 24), wp, a3);
            }

            a0.Store(output + c);
            a1.Store(output + c + 8);
            a2.Store(output + c + 16);
            a3.Store(output + c + 24);
        }

        for (; c < hd; c += 8)
        {
            Vector256<float> a0 = Vector256<float>.Zero;
            float* row = v + c;
            for (int p = 0; p < n; p++, row += hd)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(row), Vector256.Create(w[p]), a0);
            }

            a0.Store(output + c);
        }
    }
}
