using QuantSharp.Kernels;

namespace QuantSharp.Tests.Kernels;

/// <summary>The activation quantizer (vectorized for whole blocks) against its documented formula, computed here.</summary>
public unsafe class ActivationQuantizerTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(100)]
    [InlineData(2048)]
    public void QuantizeRow_MatchesTheFormulaExactly(int cols)
    {
        var rng = new Random(cols);
        // Random values, exact ties (multiples of half a step), zeros, an all-zero block and a large outlier.
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++)
        {
            x[i] = (rng.Next(6)) switch
            {
                0 => 0f,
                1 => (rng.Next(-254, 255) / 2f) * (1f / 127f),
                2 => (float)(rng.NextDouble() - 0.5) * 1e-30f,
                _ => (float)(rng.NextDouble() - 0.5) * (rng.Next(40) == 0 ? 300f : 2f),
            };
        }

        if (cols >= 64)
        {
            Array.Clear(x, 32, 32);
        }

        int chunks = (cols + 31) / 32;
        sbyte[] q = new sbyte[chunks * 32];
        float[] d = new float[chunks];
        int[] sums = new int[chunks];
        fixed (float* px = x, pd = d)
        fixed (sbyte* pq = q)
        fixed (int* ps = sums)
        {
            ActivationQuantizer.QuantizeRow(px, cols, pq, pd, ps);
        }

        for (int b = 0; b < chunks; b++)
        {
            int n = Math.Min(32, cols - (b * 32));
            float amax = 0;
            for (int i = 0; i < n; i++)
            {
                amax = Math.Max(amax, Math.Abs(x[(b * 32) + i]));
            }

            float scale = amax / 127f;
            float inverse = scale == 0 ? 0 : 1f / scale;
            Assert.Equal(scale, d[b]);
            int sum = 0;
            for (int i = 0; i < 32; i++)
            {
                int expected = i < n ? (int)Math.Clamp(MathF.Round(x[(b * 32) + i] * inverse), -127f, 127f) : 0;
                Assert.Equal(expected, q[(b * 32) + i]);
                sum += expected;
            }

            Assert.Equal(sum, sums[b]);
        }
    }
}
