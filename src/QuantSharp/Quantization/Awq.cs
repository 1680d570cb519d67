using System.Numerics.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// AWQ (Lin et al. 2023) math for one input-sharing group, as in AutoAWQ: per-input-channel scales
/// <c>s = mean|x|^α</c> (normalised by <c>sqrt(max s · min s)</c>), α searched on a grid in [0, 1) to minimise the
/// consumers' output error after round-to-nearest of <c>W·diag(s)</c>; then a per-group clipping-ratio search.
/// </summary>
public static class Awq
{
    /// <summary>The scale vector for exponent <paramref name="alpha"/>.</summary>
    public static float[] ScalesFor(ReadOnlySpan<float> meanAbs, double alpha)
    {
        float[] s = new float[meanAbs.Length];
        for (int c = 0; c < s.Length; c++)
        {
            s[c] = (float)Math.Max(Math.Pow(meanAbs[c], alpha), 1e-4);
        }

        double norm = Math.Sqrt((double)TensorPrimitives.Max(s) * TensorPrimitives.Min(s));
        TensorPrimitives.Divide(s, (float)norm, s);
        return s;
    }

    /// <summary>Round-to-nearest onto <paramref name="spec"/>'s group grid (per-group clip ratios optional), as floats.</summary>
    public static float[] PseudoQuantize(ReadOnlySpan<float> w, int rows, int cols, QuantSpec spec, ReadOnlySpan<float> clip = default)
    {
        int gs = spec.GroupSize, groups = (cols + gs - 1) / gs;
        float[] q = new float[w.Length];
        float[] src = w.ToArray();
        float[] clips = clip.ToArray();
        Parallel.For(0, rows, r =>
        {
            for (int g = 0; g < groups; g++)
            {
                int start = g * gs, n = Math.Min(gs, cols - start);
                ReadOnlySpan<float> part = src.AsSpan((r * cols) + start, n);
                GroupGrid grid = GroupGrid.Fit(part, spec.Bits, spec.Symmetric, clips.Length > 0 ? clips[(r * groups) + g] : 1f);
                for (int i = 0; i < n; i++)
                {
                    q[(r * cols) + start + i] = grid.Round(part[i]);
                }
            }
        });
        return q;
    }

    /// <summary>Packs <paramref name="w"/> with per-group clip ratios into <see cref="IntGroupScheme"/>'s layout.</summary>
    public static QuantizedTensor Pack(string name, ReadOnlySpan<float> w, int rows, int cols, QuantSpec spec, ReadOnlySpan<float> clip)
    {
        int gs = spec.GroupSize, groups = (cols + gs - 1) / gs;
        byte[] codes = new byte[(long)rows * cols];
        var scales = new Half[rows * groups];
        byte[] zeros = new byte[rows * groups];
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < groups; g++)
            {
                int start = g * gs, n = Math.Min(gs, cols - start);
                ReadOnlySpan<float> part = w.Slice((r * cols) + start, n);
                GroupGrid grid = GroupGrid.Fit(part, spec.Bits, spec.Symmetric, clip.IsEmpty ? 1f : clip[(r * groups) + g], name);
                scales[(r * groups) + g] = (Half)grid.Scale;
                zeros[(r * groups) + g] = (byte)grid.Zero;
                for (int i = 0; i < n; i++)
                {
                    codes[((long)r * cols) + start + i] = (byte)grid.Code(part[i]);
                }
            }
        }

        return IntGroupScheme.Pack(spec, name, rows, cols, codes, scales, spec.Symmetric ? [] : zeros, []);
    }

    /// <summary><c>Y = X·Wᵀ</c> for float arrays (tokens × cols by rows × cols).</summary>
    public static float[] MatMulT(float[] x, int tokens, float[] w, int rows, int cols)
    {
        float[] y = new float[tokens * rows];
        Parallel.For(0, rows, r =>
        {
            ReadOnlySpan<float> wr = w.AsSpan(r * cols, cols);
            for (int t = 0; t < tokens; t++)
            {
                y[(t * rows) + r] = TensorPrimitives.Dot(wr, x.AsSpan(t * cols, cols));
            }
        });
        return y;
    }

    /// <summary>Mean over tokens of the squared output difference, summed over outputs.</summary>
    public static double OutputError(float[] reference, float[] y, int tokens)
    {
        double e = 0;
        for (int i = 0; i < y.Length; i++)
        {
            double d = (double)reference[i] - y[i];
            e += d * d;
        }

        return e / tokens;
    }

    /// <summary>
    /// Searches α ∈ {0, 1/grid, …, (grid−1)/grid}: for each, the consumers (rows × cols each, reading <paramref name="x"/>,
    /// tokens × cols) are quantized as <c>Q(W·diag(s))·diag(1/s)</c> and the summed output error measured.
    /// Returns the best scales and α, and the error table.
    /// </summary>
    public static (float[] Scales, double Alpha, double[] Errors) SearchScales(IReadOnlyList<(float[] W, int Rows)> consumers, int cols, float[] x, int tokens, float[] meanAbs, QuantSpec spec, int grid = 20)
    {
        var reference = consumers.Select(c => MatMulT(x, tokens, c.W, c.Rows, cols)).ToArray();
        double[] errors = new double[grid];
        double best = double.PositiveInfinity;
        float[] bestScales = new float[cols];
        double bestAlpha = 0;
        for (int i = 0; i < grid; i++)
        {
            double alpha = (double)i / grid;
            float[] s = ScalesFor(meanAbs, alpha);
            double err = 0;
            for (int k = 0; k < consumers.Count; k++)
            {
                (float[] w, int rows) = consumers[k];
                float[] scaled = new float[w.Length];
                for (int r = 0; r < rows; r++)
                {
                    TensorPrimitives.Multiply(w.AsSpan(r * cols, cols), s, scaled.AsSpan(r * cols, cols));
                }

                float[] q = PseudoQuantize(scaled, rows, cols, spec);
                for (int r = 0; r < rows; r++)
                {
                    TensorPrimitives.Divide(q.AsSpan(r * cols, cols), s, q.AsSpan(r * cols, cols));
                }

                err += OutputError(reference[k], MatMulT(x, tokens, q, rows, cols), tokens);
            }

            errors[i] = err;
            if (err < best)
            {
                (best, bestScales, bestAlpha) = (err, s, alpha);
            }
        }

        return (bestScales, bestAlpha, errors);
    }

    /// <summary>
    /// Per (row, group) clipping ratio in {1, 0.95, …, 0.5} minimising the group's partial output error over
    /// <paramref name="x"/> (tokens × cols), as AutoAWQ's <c>_compute_best_clip</c>.
    /// </summary>
    public static float[] SearchClip(float[] w, int rows, int cols, float[] x, int tokens, QuantSpec spec, int steps = 20, double maxShrink = 0.5)
    {
        int gs = spec.GroupSize, groups = (cols + gs - 1) / gs;
        float[] clip = new float[rows * groups];
        int tried = (int)(steps * maxShrink) + 1;
        Parallel.For(0, rows * groups, rg =>
        {
            int r = rg / groups, g = rg % groups;
            int start = g * gs, n = Math.Min(gs, cols - start);
            ReadOnlySpan<float> part = w.AsSpan((r * cols) + start, n);
            float[] org = new float[tokens];
            for (int t = 0; t < tokens; t++)
            {
                org[t] = TensorPrimitives.Dot(part, x.AsSpan((t * cols) + start, n));
            }

            float[] q = new float[n];
            double best = double.PositiveInfinity;
            float bestRatio = 1f;
            for (int i = 0; i < tried; i++)
            {
                float ratio = 1f - ((float)i / steps);
                GroupGrid grid = GroupGrid.Fit(part, spec.Bits, spec.Symmetric, ratio);
                for (int k = 0; k < n; k++)
                {
                    q[k] = grid.Round(part[k]);
                }

                double err = 0;
                for (int t = 0; t < tokens; t++)
                {
                    double d = TensorPrimitives.Dot(q, x.AsSpan((t * cols) + start, n)) - org[t];
                    err += d * d;
                }

                if (err < best)
                {
                    (best, bestRatio) = (err, ratio);
                }
            }

            clip[rg] = bestRatio;
        });
        return clip;
    }
}
