using QuantSharp.Kernels;

namespace QuantSharp.Tests.Kernels;

/// <summary>The 8-row interleaved prefill GEMM against its scalar reference, and its int4 tile against the per-row
/// int4 reference.</summary>
public unsafe class InterleavedPrefillTests
{
    [SkippableFact]
    public void Multiply_MatchesReference_ForEveryTokenCount()
    {
        Skip.IfNot(KernelIsa.UseAvx2, "AVX2 kernel");
        var rng = new Random(12);
        foreach (int chunks in new[] { 1, 3, 64 })
        {
            byte[] tile = new byte[(int)InterleavedPrefill.TileBytes(chunks)];
            for (int i = 0; i < chunks * 256; i++)
            {
                tile[i] = (byte)rng.Next(16);
            }

            fixed (byte* pt = tile)
            {
                for (int c = 0; c < chunks; c++)
                {
                    for (int r = 0; r < 8; r++)
                    {
                        InterleavedPrefill.FactorA(pt, chunks, c)[r] = (float)(rng.NextDouble() * 0.02);
                        InterleavedPrefill.FactorB(pt, chunks, c)[r] = (float)(rng.NextDouble() * 0.1);
                    }
                }

                foreach (int tokens in new[] { 1, 2, 3, 4, 5, 8, 9 })
                {
                    sbyte[] q = Enumerable.Range(0, tokens * chunks * 32).Select(_ => (sbyte)rng.Next(-127, 128)).ToArray();
                    float[] d = Enumerable.Range(0, tokens * chunks).Select(_ => (float)(rng.NextDouble() * 0.01)).ToArray();
                    float[] e = Enumerable.Range(0, tokens * chunks).Select(_ => (float)((rng.NextDouble() - 0.5) * 5)).ToArray();
                    float[] fast = new float[tokens * 11], reference = new float[tokens * 11];
                    fixed (sbyte* pq = q)
                    fixed (float* pd = d, pe = e, pf = fast, pr = reference)
                    {
                        InterleavedPrefill.Multiply(pt, chunks, tokens, pq, pd, pe, pf, 11);
                        InterleavedPrefill.MultiplyReference(pt, chunks, tokens, pq, pd, pe, pr, 11);
                    }

                    for (int t = 0; t < tokens; t++)
                    {
                        for (int r = 0; r < 8; r++)
                        {
                            float a = fast[(t * 11) + r], b = reference[(t * 11) + r];
                            Assert.True(Math.Abs(a - b) <= 1e-5 * (1 + Math.Abs(b)) * chunks, $"chunks {chunks} tokens {tokens} t {t} r {r}: {a} vs {b}");
                        }

                        for (int r = 8; r < 11; r++)
                        {
                            Assert.Equal(0f, fast[(t * 11) + r]); // nothing written outside the tile's 8 rows
                        }
                    }
                }
            }
        }
    }
}
