using System.Numerics.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// GPTQ onto a lattice codebook (<see cref="LatticeFormat"/>), as QuIP#'s block LDLQ does for vector codebooks: the
/// columns are taken 8 at a time (one sign group) in order; each row's group is coded jointly onto the grid at the
/// group's scale, weighting column k by <c>1 / U[k,k]²</c>; the group's error <c>δ</c> becomes <c>e = δ · U_GG⁻¹</c>
/// (forward substitution over the group's 8 × 8 block of <c>U = chol(H⁻¹)ᵀ</c>), and every later column j moves by
/// <c>−Σ_k e_k · U[k, j]</c>. The scales of each 256-weight block are chosen when the block starts, on the
/// error-updated weights, with the Hessian diagonal as importance (<see cref="GroupGrid.ErrorWeights"/>).
/// </summary>
internal static class LatticeGptq
{
    /// <summary>Quantizes <paramref name="weights"/> (rows × cols) given <paramref name="covariance"/> = <c>Σ x·xᵀ / N</c>.</summary>
    /// <exception cref="QuantSharpException">Act-order requested, rows not a multiple of 256, NaN weights, or an indefinite Hessian.</exception>
    public static LayerQuantResult Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols, double[] covariance, QuantSpec spec, GptqOptions options)
    {
        LatticeFormat format = LatticeFormat.For(spec.Kind) ?? throw new ArgumentException($"{spec.Name} is not a lattice scheme", nameof(spec));
        if (options.ActOrder)
        {
            throw new QuantSharpException($"--act-order does not apply to {spec.Name}: its groups of 8 are consecutive inputs");
        }

        LatticeScheme.CheckShape(name, cols);
        QuantChecks.CheckWeights(name, weights, rows, cols);
        (double[] u, double[] diagonal, bool[] dead) = Gptq.Factor(name, covariance, cols, [.. Enumerable.Range(0, cols)], options.Damp);

        int blocks = cols / LatticeFormat.BlockWeights, blockBytes = format.BlockBytes;
        byte[] q = QuantizedTensor.AllocatePinned((long)rows * blocks * blockBytes);
        float[] deq = new float[(long)rows * cols];
        float[] source = weights.ToArray();
        float[] groupWeights = new float[cols];
        for (int c = 0; c < cols; c++)
        {
            double ukk = u[((long)c * cols) + c];
            groupWeights[c] = (float)(1 / (ukk * ukk));
        }

        Parallel.For(0, rows, () => new LatticeQuantizer(format), (r, _, quantizer) =>
        {
            double[] w = new double[cols];
            for (int c = 0; c < cols; c++)
            {
                w[c] = dead[c] ? 0 : source[((long)r * cols) + c];
            }

            var values = new float[LatticeFormat.BlockWeights];
            var importance = new float[LatticeFormat.BlockWeights];
            var scales = new int[LatticeFormat.BlockWeights / format.ScaleSpan];
            var entries = new int[LatticeFormat.BlockWeights / format.EntryWidth];
            var signs = new byte[LatticeFormat.BlockWeights / LatticeFormat.GroupWeights];
            Span<float> x8 = stackalloc float[LatticeFormat.GroupWeights];
            Span<float> q8 = stackalloc float[LatticeFormat.GroupWeights];
            Span<double> e = stackalloc double[LatticeFormat.GroupWeights];
            int perGroup = LatticeFormat.GroupWeights / format.EntryWidth;
            for (int b = 0; b < blocks; b++)
            {
                int at = b * LatticeFormat.BlockWeights;
                for (int k = 0; k < values.Length; k++)
                {
                    values[k] = (float)w[at + k];
                    importance[k] = (float)diagonal[at + k];
                }

                Half d = quantizer.ChooseScales(values, GroupGrid.ErrorWeights(values, importance), scales);
                for (int g = 0; g < signs.Length; g++)
                {
                    int i = at + (g * LatticeFormat.GroupWeights);
                    for (int k = 0; k < x8.Length; k++)
                    {
                        x8[k] = (float)w[i + k];
                    }

                    float db = format.GroupScale((float)d, scales[(g * LatticeFormat.GroupWeights) / format.ScaleSpan]);
                    signs[g] = quantizer.CodeGroup(x8, groupWeights.AsSpan(i, LatticeFormat.GroupWeights), db, entries.AsSpan(g * perGroup, perGroup), q8);
                    q8.CopyTo(deq.AsSpan((int)(((long)r * cols) + i), LatticeFormat.GroupWeights));

                    // e = δ · U_GG⁻¹ by forward substitution (U upper triangular), then the later columns absorb it.
                    for (int k = 0; k < e.Length; k++)
                    {
                        double s = w[i + k] - q8[k];
                        for (int m = 0; m < k; m++)
                        {
                            s -= e[m] * u[((long)(i + m) * cols) + i + k];
                        }

                        e[k] = s / u[((long)(i + k) * cols) + i + k];
                    }

                    int next = i + LatticeFormat.GroupWeights;
                    if (next < cols)
                    {
                        Span<double> tail = w.AsSpan(next, cols - next);
                        for (int k = 0; k < e.Length; k++)
                        {
                            if (e[k] != 0)
                            {
                                TensorPrimitives.MultiplyAdd(u.AsSpan((int)(((long)(i + k) * cols) + next), cols - next), -e[k], tail, tail);
                            }
                        }
                    }
                }

                format.Pack(q.AsSpan((int)((((long)r * blocks) + b) * blockBytes), blockBytes), d, scales, entries, signs);
            }

            return quantizer;
        }, _ => { });

        QuantizedTensor packed = LatticeScheme.Packed(spec, name, rows, cols, q);
        return new LayerQuantResult(packed, deq, Gptq.OutputLoss(weights, deq, rows, cols, covariance), null);
    }
}
