using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Kernels;

/// <summary>
/// The contract every <see cref="ILinearWeight"/> keeps, asserted once and instantiated for every implementation and
/// format (<see cref="LinearCases"/>: dense, QuantSharp's schemes, GGUF direct and dequantizing types, Hugging Face
/// GPTQ/AWQ): MatVec equals the scalar reference (the double-precision product with the dequantized rows, within the
/// documented int8 activation rounding) at every input length 0..257 the format allows and on real shapes; each MatMul
/// row equals MatVec; saving and loading changes nothing; bad buffers are refused.
/// </summary>
public sealed class LinearContractTests
{
    /// <summary>Shapes of TinyLlama's attention/FFN inputs (2048 and 5632 columns).</summary>
    internal static readonly (int Rows, int Cols)[] RealShapes = [(64, 2048), (16, 5632)];

    internal static float[] Activations(int tokens, int cols, int seed)
    {
        var rng = new Random(seed);
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)((rng.NextDouble() * 2) - 1) * (rng.Next(50) == 0 ? 10 : 1);
        }

        return x;
    }

    private static IEnumerable<int> Lengths(LinearCase c)
        => Enumerable.Range(1, 257).Where(n => n % c.Granularity == 0).Concat(RealShapes.Select(s => s.Cols));

    /// <summary>Asserts |y − W'x| within the bound for int8-rounded activations (per <see cref="LinearCase.ActivationBlock"/>)
    /// plus float rounding, W' being the dequantized rows.</summary>
    internal static void AssertMatchesReference(LinearCase c, ILinearWeight w, ReadOnlySpan<float> x, ReadOnlySpan<float> y, string what)
    {
        float[] row = new float[w.Cols];
        for (int r = 0; r < w.Rows; r++)
        {
            w.DequantizeRow(r, row);
            double sum = 0, magnitude = 0, activationError = 0;
            for (int k = 0; k < w.Cols; k++)
            {
                sum += (double)row[k] * x[k];
                magnitude += Math.Abs((double)row[k] * x[k]);
            }

            for (int b = 0; c.ActivationBlock > 0 && b * c.ActivationBlock < w.Cols; b++)
            {
                double amax = 0, wsum = 0;
                for (int k = b * c.ActivationBlock; k < Math.Min(w.Cols, (b + 1) * c.ActivationBlock); k++)
                {
                    amax = Math.Max(amax, Math.Abs(x[k]));
                    wsum += Math.Abs(row[k]);
                }

                activationError += amax / 254 * wsum;
            }

            double bound = (activationError * 1.0001) + (2e-5 * magnitude) + 1e-6;
            Assert.True(Math.Abs(y[r] - sum) <= bound, $"{c} {what} row {r}: {y[r]} vs reference {sum} (bound {bound})");
        }
    }

    [Theory]
    [MemberData(nameof(LinearCases.Names), MemberType = typeof(LinearCases))]
    public void MatVec_EqualsScalarReference_AtEveryLength(string name)
    {
        LinearCase c = LinearCases.Get(name);
        foreach (int cols in Lengths(c))
        {
            int rows = c.FitRows(cols > 257 ? 24 : 13);
            using BuiltLinear built = c.Create(QuantTestData.Random(rows, cols, cols), rows, cols);
            ILinearWeight w = built.Linear;
            Assert.Equal((rows, cols), (w.Rows, w.Cols));
            float[] x = Activations(1, cols, cols + 1);
            float[] y = new float[rows];
            w.MatVec(x, y);
            AssertMatchesReference(c, w, x, y, $"{rows}x{cols}");
        }
    }

    [Theory]
    [MemberData(nameof(LinearCases.Names), MemberType = typeof(LinearCases))]
    public void ZeroColumns_AreRefusedOrGiveTheEmptySum(string name)
    {
        LinearCase c = LinearCases.Get(name);
        int rows = c.FitRows(3);
        BuiltLinear? built = null;
        Exception? e = Record.Exception(() => built = c.Create([], rows, 0));
        if (e is not null)
        {
            Assert.True(e is QuantSharpException or ArgumentException or GgufException, $"{c}: a {rows}x0 matrix gave {e.GetType().Name}: {e.Message}");
            return;
        }

        using (built)
        {
            float[] y = Enumerable.Repeat(float.NaN, 2 * rows).ToArray();
            built!.Linear.MatVec([], y.AsSpan(0, rows));
            built.Linear.MatMul([], 2, y);
            Assert.All(y, v => Assert.Equal(0f, v));
        }
    }

    [Theory]
    [MemberData(nameof(LinearCases.Names), MemberType = typeof(LinearCases))]
    public void MatMul_RowsEqualMatVec(string name)
    {
        LinearCase c = LinearCases.Get(name);
        foreach ((int shapeRows, int cols) in ((int, int)[])[(37, 512), .. RealShapes])
        {
            int rows = c.FitRows(shapeRows);
            using BuiltLinear built = c.Create(QuantTestData.Random(rows, cols, 77), rows, cols);
            ILinearWeight w = built.Linear;
            foreach (int tokens in (int[])[2, 5, 17])
            {
                float[] x = Activations(tokens, cols, tokens);
                float[] y = new float[tokens * rows];
                w.MatMul(x, tokens, y);
                float[] one = new float[rows];
                float[] row = new float[cols];
                for (int t = 0; t < tokens; t++)
                {
                    ReadOnlySpan<float> xt = x.AsSpan(t * cols, cols);
                    w.MatVec(xt, one);
                    for (int r = 0; r < rows; r++)
                    {
                        float got = y[(t * rows) + r];
                        if (!c.MatMulReordersSums)
                        {
                            Assert.True(one[r] == got, $"{c} {rows}x{cols} {tokens} tokens, token {t} row {r}: MatVec {one[r]} vs MatMul {got}");
                            continue;
                        }

                        w.DequantizeRow(r, row);
                        double magnitude = 0;
                        for (int k = 0; k < cols; k++)
                        {
                            magnitude += Math.Abs((double)row[k] * xt[k]);
                        }

                        Assert.True(Math.Abs(one[r] - got) <= (1e-5 * magnitude) + 1e-6, $"{c} {rows}x{cols} {tokens} tokens, token {t} row {r}: MatVec {one[r]} vs MatMul {got}");
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(LinearCases.Names), MemberType = typeof(LinearCases))]
    public void SaveThenLoad_IsIdentity(string name)
    {
        LinearCase c = LinearCases.Get(name);
        (int rows, int cols) = (c.FitRows(40), 512);
        using var dir = new TempDir();
        using BuiltLinear built = c.Create(QuantTestData.Random(rows, cols, 5), rows, cols);
        using BuiltLinear loaded = c.SaveAndLoad(built, dir.Path);
        ILinearWeight a = built.Linear, b = loaded.Linear;
        Assert.Equal((a.Rows, a.Cols, a.Scheme, a.BytesInMemory), (b.Rows, b.Cols, b.Scheme, b.BytesInMemory));
        Assert.Equal(LinearCases.Rows(a), LinearCases.Rows(b));
        float[] x = Activations(3, cols, 9);
        float[] ya = new float[3 * rows], yb = new float[3 * rows];
        a.MatVec(x.AsSpan(0, cols), ya.AsSpan(0, rows));
        b.MatVec(x.AsSpan(0, cols), yb.AsSpan(0, rows));
        Assert.Equal(ya, yb);
        a.MatMul(x, 3, ya);
        b.MatMul(x, 3, yb);
        Assert.Equal(ya, yb);
    }

    [Theory]
    [MemberData(nameof(LinearCases.Names), MemberType = typeof(LinearCases))]
    public void BadBuffers_AreRefused(string name)
    {
        LinearCase c = LinearCases.Get(name);
        (int rows, int cols) = (c.FitRows(5), 256);
        using BuiltLinear built = c.Create(QuantTestData.Random(rows, cols, 1), rows, cols);
        ILinearWeight w = built.Linear;
        float[] x = new float[2 * cols], y = new float[2 * rows];
        Assert.ThrowsAny<ArgumentException>(() => w.MatVec(x.AsSpan(0, cols - 1), y));
        Assert.ThrowsAny<ArgumentException>(() => w.MatVec(x.AsSpan(0, cols), y.AsSpan(0, rows - 1)));
        Assert.ThrowsAny<ArgumentException>(() => w.MatMul(x, 2, y.AsSpan(0, (2 * rows) - 1)));
        Assert.ThrowsAny<ArgumentException>(() => w.MatMul(x.AsSpan(0, (2 * cols) - 1), 2, y));
        Assert.ThrowsAny<ArgumentException>(() => w.MatMul(x, 0, y));
        Assert.ThrowsAny<ArgumentException>(() => w.DequantizeRow(rows, new float[cols]));
        Assert.ThrowsAny<ArgumentException>(() => w.DequantizeRow(-1, new float[cols]));
        Assert.ThrowsAny<ArgumentException>(() => w.DequantizeRow(0, new float[cols - 1]));
    }
}

/// <summary>Tests that replace <see cref="WorkerPool.Shared"/> run alone.</summary>
[CollectionDefinition(nameof(WorkerPoolThreadsCollection), DisableParallelization = true)]
public sealed class WorkerPoolThreadsCollection;

/// <summary>The thread-count part of the contract: every implementation gives the same bits on 1, 2 and 3 threads.</summary>
[Collection(nameof(WorkerPoolThreadsCollection))]
public sealed class LinearThreadInvarianceTests
{
    [Theory]
    [MemberData(nameof(LinearCases.Names), MemberType = typeof(LinearCases))]
    public void Results_DoNotDependOnTheThreadCount(string name)
    {
        LinearCase c = LinearCases.Get(name);
        int original = WorkerPool.Shared.Threads;
        try
        {
            foreach ((int r, int cols) in ((int, int)[])[(96, 2048), (40, 5632)])
            {
                int rows = c.FitRows(r);
                using BuiltLinear built = c.Create(QuantTestData.Random(rows, cols, 3), rows, cols);
                ILinearWeight w = built.Linear;
                float[]? first = null;
                foreach (int threads in (int[])[1, 2, 3])
                {
                    WorkerPool.SetSharedThreads(threads);
                    float[] results = [.. Run(w, 1), .. Run(w, 5), .. Run(w, 17)];
                    first ??= results;
                    Assert.True(first.AsSpan().SequenceEqual(results), $"{c} {rows}x{cols}: {threads} threads differ from 1 thread");
                }
            }
        }
        finally
        {
            WorkerPool.SetSharedThreads(original);
        }
    }

    private static float[] Run(ILinearWeight w, int tokens)
    {
        float[] x = LinearContractTests.Activations(tokens, w.Cols, tokens);
        float[] y = new float[tokens * w.Rows];
        w.MatMul(x, tokens, y);
        return y;
    }
}
