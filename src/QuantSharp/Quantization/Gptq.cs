using System.Numerics.Tensors;
using QuantSharp.Tensors;

namespace QuantSharp.Quantization;

/// <summary>GPTQ parameters.</summary>
public sealed class GptqOptions
{
    /// <summary>Dampening added to the Hessian diagonal, as a fraction of its mean (<c>--damp</c>, reference default 0.01).</summary>
    public double Damp { get; init; } = 0.01;

    /// <summary>Quantize columns in order of descending Hessian diagonal (<c>--act-order</c>); groups then follow that
    /// order and the result carries a <c>g_idx</c>.</summary>
    public bool ActOrder { get; init; }

    /// <summary>Columns per lazy batch update (the reference's 128).</summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>Fit each int4/int3/int2 group's grid (at the group's start, on the error-updated weights) by
    /// <see cref="GroupGrid.FitWeighted"/> with the Hessian diagonal as importance (<c>--grid-search</c>), instead of the
    /// reference's min/max grid. On brown-llama it takes GPTQ int2-g64 from +8.0 % to +5.1 % perplexity.</summary>
    public bool GridSearch { get; init; }
}

/// <summary>Result of quantizing one layer.</summary>
/// <param name="Packed">The packed weight (int4/int3/int2 in <see cref="IntGroupScheme"/>'s layout, ternary in <see cref="TernaryScheme"/>'s).</param>
/// <param name="Dequantized">Ŵ, rows × cols, exactly what the packed weight decodes to.</param>
/// <param name="Loss">Mean over calibration tokens of <c>‖W·x − Ŵ·x‖²</c> (from the undamped Hessian).</param>
/// <param name="GIdx">Group of each column with act-order, else null.</param>
public sealed record LayerQuantResult(QuantizedTensor Packed, float[] Dequantized, double Loss, int[]? GIdx);

/// <summary>
/// GPTQ (Frantar et al. 2022) for one linear layer, following the reference <c>fasterquant</c>: dead columns
/// (zero Hessian diagonal) are zeroed, optional act-order permutation, dampening, <c>U = chol(H⁻¹)ᵀ</c> (upper),
/// then column by column: round to the group's grid, error <c>e = (w − q) / U[i,i]</c>, update the remaining
/// columns of the lazy batch by <c>e·U[i, j]</c> and the columns after the batch once per batch.
/// </summary>
/// <remarks>
/// Rows are independent given U, so each row runs the whole column loop on its own (in parallel); the arithmetic
/// is the reference's, in double. Grids: int4/int3/int2 groups fitted with <see cref="GroupGrid.Fit"/> on the
/// error-updated weights when a group starts (in act-order when enabled), or ternary {−1, 0, +1}·scale with the
/// absmean scale per tensor/row (of the original weights) or per group (of the updated weights at the group start).
/// </remarks>
public static class Gptq
{
    /// <summary>Quantizes <paramref name="weights"/> (rows × cols) given <paramref name="covariance"/> = <c>Σ x·xᵀ / N</c> (cols × cols).</summary>
    /// <exception cref="QuantSharpException">Unsupported scheme, act-order with per-group ternary, NaN weights, or a Hessian that stays indefinite after extra dampening.</exception>
    public static LayerQuantResult Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols, double[] covariance, QuantSpec spec, GptqOptions? options = null)
    {
        options ??= new GptqOptions();
        if (spec.IsLattice)
        {
            return LatticeGptq.Quantize(name, weights, rows, cols, covariance, spec, options);
        }

        QuantChecks.CheckWeights(name, weights, rows, cols);
        bool ternary = spec.Kind == QuantSchemeKind.Ternary;
        if (!spec.IsIntGroup && !ternary)
        {
            throw new QuantSharpException($"GPTQ supports int4, int3, int2, ternary and the lattice schemes, not {spec.Name}");
        }

        if (ternary && options.ActOrder && spec.Granularity == TernaryGranularity.PerGroup)
        {
            throw new QuantSharpException("--act-order does not apply to per-group ternary (its layout has no g_idx); use ternary-row or ternary-tensor");
        }

        if (covariance.Length != (long)cols * cols)
        {
            throw new ArgumentException($"{name}: covariance holds {covariance.Length} values, expected {cols}×{cols}");
        }

        int[] perm = Enumerable.Range(0, cols).ToArray();
        if (options.ActOrder)
        {
            // Dead columns (zero diagonal) sort as if their diagonal were 1, the value Factor gives them.
            double[] diag = perm.Select(i => covariance[((long)i * cols) + i] is var c && c == 0 ? 1 : 2 * c).ToArray();
            perm = [.. perm.OrderByDescending(i => diag[i]).ThenBy(i => i)];
        }

        (double[] u, double[] diagonal, bool[] dead) = Factor(name, covariance, cols, perm, options.Damp);
        int groupSize = spec.IsIntGroup || spec.Granularity == TernaryGranularity.PerGroup ? spec.GroupSize : 0;
        int blockSize = options.BlockSize;
        if (groupSize > 0 && blockSize % groupSize != 0 && groupSize % blockSize != 0)
        {
            blockSize = groupSize;
        }

        int groups = groupSize > 0 ? (cols + groupSize - 1) / groupSize : 1;
        float tensorScale = 0;
        if (ternary && spec.Granularity == TernaryGranularity.PerTensor)
        {
            double s = 0;
            foreach (float v in weights)
            {
                s += Math.Abs(v);
            }

            tensorScale = (float)(s / weights.Length);
        }

        byte[] codes = new byte[(long)rows * cols];
        float[] deq = new float[(long)rows * cols];
        var scales = new Half[spec.IsIntGroup ? rows * groups : 0];
        byte[] zeros = new byte[spec.IsIntGroup ? rows * groups : 0];
        float[] ternaryScales = new float[ternary ? (spec.Granularity == TernaryGranularity.PerGroup ? rows * groups : rows) : 0];
        float[] weightCopy = weights.ToArray();
        Parallel.For(0, rows, r =>
        {
            double[] w = new double[cols];
            double[] err = new double[blockSize];
            float[] groupValues = new float[Math.Max(groupSize, 1)];
            double rowAbs = 0;
            for (int j = 0; j < cols; j++)
            {
                int c = perm[j];
                w[j] = dead[c] ? 0 : weightCopy[((long)r * cols) + c];
                rowAbs += Math.Abs(weightCopy[((long)r * cols) + c]);
            }

            GroupGrid grid = default;
            float tScale = spec.Granularity == TernaryGranularity.PerTensor ? tensorScale : (float)(rowAbs / cols);
            if (ternary && spec.Granularity == TernaryGranularity.PerRow)
            {
                ternaryScales[r] = tScale;
            }

            for (int i1 = 0; i1 < cols; i1 += blockSize)
            {
                int i2 = Math.Min(i1 + blockSize, cols);
                for (int i = i1; i < i2; i++)
                {
                    if (groupSize > 0 && i % groupSize == 0)
                    {
                        int n = Math.Min(groupSize, cols - i);
                        int g = i / groupSize;
                        if (ternary)
                        {
                            double s = 0;
                            for (int k = 0; k < n; k++)
                            {
                                s += Math.Abs(w[i + k]);
                            }

                            tScale = (float)(s / n);
                            ternaryScales[(r * groups) + g] = tScale;
                        }
                        else
                        {
                            for (int k = 0; k < n; k++)
                            {
                                groupValues[k] = (float)w[i + k];
                            }

                            grid = options.GridSearch
                                ? GroupGrid.FitWeighted(groupValues.AsSpan(0, n), GroupGrid.ErrorWeights(groupValues.AsSpan(0, n), Array.ConvertAll(diagonal[i..(i + n)], v => (float)v)), spec.Bits, spec.Symmetric, name)
                                : GroupGrid.Fit(groupValues.AsSpan(0, n), spec.Bits, spec.Symmetric, 1f, name);
                            scales[(r * groups) + g] = (Half)grid.Scale;
                            zeros[(r * groups) + g] = (byte)grid.Zero;
                        }
                    }

                    double q;
                    byte code;
                    if (ternary)
                    {
                        int t = TernaryScheme.Ternarize((float)w[i], tScale);
                        code = (byte)(t + 1);
                        q = (double)tScale * t;
                    }
                    else
                    {
                        int cq = grid.Code(w[i]);
                        code = (byte)cq;
                        q = grid.Value(cq);
                    }

                    int c = perm[i];
                    codes[((long)r * cols) + c] = code;
                    deq[((long)r * cols) + c] = (float)q;
                    double d = u[((long)i * cols) + i];
                    double e = (w[i] - q) / d;
                    err[i - i1] = e;
                    if (i + 1 < i2)
                    {
                        Span<double> rest = w.AsSpan(i + 1, i2 - i - 1);
                        TensorPrimitives.MultiplyAdd(u.AsSpan((int)(((long)i * cols) + i + 1), i2 - i - 1), -e, rest, rest);
                    }
                }

                if (i2 < cols)
                {
                    Span<double> tail = w.AsSpan(i2, cols - i2);
                    for (int i = i1; i < i2; i++)
                    {
                        double e = err[i - i1];
                        if (e != 0)
                        {
                            TensorPrimitives.MultiplyAdd(u.AsSpan((int)(((long)i * cols) + i2), cols - i2), -e, tail, tail);
                        }
                    }
                }
            }
        });

        int[]? gIdx = null;
        if (options.ActOrder && groupSize > 0)
        {
            gIdx = new int[cols];
            for (int j = 0; j < cols; j++)
            {
                gIdx[perm[j]] = j / groupSize;
            }
        }

        QuantizedTensor packed = ternary
            ? PackTernary(spec, name, rows, cols, codes, ternaryScales, tensorScale)
            : IntGroupScheme.Pack(spec, name, rows, cols, codes, scales, spec.Symmetric ? [] : zeros, gIdx);
        return new LayerQuantResult(packed, deq, OutputLoss(weights, deq, rows, cols, covariance), gIdx);
    }

    /// <summary>
    /// The GPTQ set-up shared by the scalar and lattice forms: <c>H = 2·C</c> with dead columns (zero diagonal) marked
    /// and given a unit diagonal, permuted by <paramref name="perm"/>, dampened by <paramref name="damp"/> × its mean
    /// diagonal, and factored as <c>U = chol(H⁻¹)ᵀ</c> (upper, row-major, in permuted order).
    /// </summary>
    /// <returns>U, the undamped diagonal of the permuted H, and which original columns are dead.</returns>
    internal static (double[] U, double[] Diagonal, bool[] Dead) Factor(string name, double[] covariance, int cols, int[] perm, double damp)
    {
        if (covariance.Length != (long)cols * cols)
        {
            throw new ArgumentException($"{name}: covariance holds {covariance.Length} values, expected {cols}×{cols}");
        }

        bool[] dead = new bool[cols];
        for (int i = 0; i < cols; i++)
        {
            dead[i] = covariance[((long)i * cols) + i] == 0;
        }

        double[] hp = new double[covariance.Length];
        double[] diagonal = new double[cols];
        double mean = 0;
        for (int i = 0; i < cols; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                hp[((long)i * cols) + j] = 2 * covariance[((long)perm[i] * cols) + perm[j]];
            }

            if (dead[perm[i]])
            {
                hp[((long)i * cols) + i] = 1;
            }

            diagonal[i] = hp[((long)i * cols) + i];
            mean += diagonal[i];
        }

        mean /= cols;
        return (Precondition(name, hp, cols, damp * mean), diagonal, dead);
    }

    /// <summary>Mean over tokens of <c>‖(W − Ŵ)·x‖²</c> = <c>Σ_r δ_rᵀ·C·δ_r</c> with C = Σ x·xᵀ / N.</summary>
    public static double OutputLoss(ReadOnlySpan<float> weights, ReadOnlySpan<float> dequantized, int rows, int cols, double[] covariance)
    {
        float[] w = weights.ToArray(), q = dequantized.ToArray();
        double[] perRow = new double[rows];
        Parallel.For(0, rows, r =>
        {
            double[] delta = new double[cols];
            for (int c = 0; c < cols; c++)
            {
                delta[c] = (double)w[((long)r * cols) + c] - q[((long)r * cols) + c];
            }

            double s = 0;
            for (int i = 0; i < cols; i++)
            {
                if (delta[i] == 0)
                {
                    continue;
                }

                s += delta[i] * TensorPrimitives.Dot(covariance.AsSpan((int)((long)i * cols), cols), delta);
            }

            perRow[r] = s;
        });
        return perRow.Sum();
    }

    private static double[] Precondition(string name, double[] hp, int cols, double damp)
    {
        // The reference adds damp once; a Hessian that is still indefinite (rank-deficient calibration) gets 10×
        // more, a few times, before giving up.
        for (int attempt = 0; attempt < 6; attempt++)
        {
            double[] h = (double[])hp.Clone();
            double add = damp * Math.Pow(10, attempt);
            for (int i = 0; i < cols; i++)
            {
                h[(i * cols) + i] += add;
            }

            if (Cholesky.UpperOfInverse(h, cols, out double[] u))
            {
                return u;
            }
        }

        throw new QuantSharpException($"GPTQ: the Hessian of '{name}' is not positive definite even with extra dampening; use more calibration data or a larger --damp");
    }

    /// <summary>Packs ternary codes (t + 1) and scales in <see cref="TernaryScheme"/>'s layout.</summary>
    internal static QuantizedTensor PackTernary(QuantSpec spec, string name, int rows, int cols, ReadOnlySpan<byte> codes, ReadOnlySpan<float> rowOrGroupScales, float tensorScale)
    {
        int rowBytes = PackLayout.RowBytes2(cols);
        byte[] q = QuantizedTensor.AllocatePinned((long)rows * rowBytes);
        for (int r = 0; r < rows; r++)
        {
            PackLayout.Pack2(codes.Slice(r * cols, cols), q.AsSpan(r * rowBytes, rowBytes), 1);
        }

        int groups = spec.Granularity == TernaryGranularity.PerGroup ? (cols + spec.GroupSize - 1) / spec.GroupSize : 1;
        (long[] shape, int count) = spec.Granularity switch
        {
            TernaryGranularity.PerTensor => ((long[])[1], 1),
            TernaryGranularity.PerRow => ([rows], rows),
            _ => ([rows, groups], rows * groups),
        };
        byte[] s = QuantizedTensor.AllocatePinned(count * 4L);
        Span<float> sf = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(s.AsSpan());
        if (spec.Granularity == TernaryGranularity.PerTensor)
        {
            sf[0] = tensorScale;
        }
        else
        {
            rowOrGroupScales[..count].CopyTo(sf);
        }

        return new QuantizedTensor(name, spec, rows, cols,
            new QuantizedPart("qweight", DType.U8, [rows, rowBytes], q),
            new QuantizedPart("scales", DType.F32, shape, s));
    }
}
