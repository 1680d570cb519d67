using QuantSharp.Models;

using QuantSharp.Quantization;

namespace QuantSharp.Calibration;

/// <summary>
/// Computes an <see cref="ImportanceMatrix"/> for the block linears of a model: the calibration sequences run block by
/// block through the unquantized model (as <see cref="CalibratedQuantization"/> runs them), and every linear's input
/// rows add their squares to its entry. Linears that share an input (q/k/v, gate/up) get the same sums.
/// </summary>
public static class ImportanceCollector
{
    /// <summary>The importance matrix of <paramref name="model"/> on <paramref name="data"/>, keyed by the model's
    /// tensor names; <paramref name="progress"/> gets (blocks done, blocks).</summary>
    public static ImportanceMatrix Collect(TransformerModel model, CalibrationData data, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        int d = model.Config.HiddenSize, length = data.Length;
        float[][] x = new float[data.Sequences.Count][];
        for (int s = 0; s < x.Length; s++)
        {
            x[s] = new float[length * d];
            BlockRunner.Embed(model, data.Sequences[s], x[s]);
        }

        var entries = new Dictionary<string, (float[], float)>(StringComparer.Ordinal);
        using var runner = new BlockRunner(model, length);
        for (int l = 0; l < model.Blocks.Length; l++)
        {
            var sums = new Dictionary<string, double[]>(StringComparer.Ordinal);
            long tokens = 0;
            foreach (float[] sequence in x)
            {
                runner.Run(model.Blocks[l], l, sequence, length, (name, input, n) =>
                {
                    int cols = input.Length / n;
                    if (!sums.TryGetValue(name, out double[]? acc))
                    {
                        sums[name] = acc = new double[cols];
                    }

                    for (int t = 0; t < n; t++)
                    {
                        ReadOnlySpan<float> row = input.Slice(t * cols, cols);
                        for (int c = 0; c < cols; c++)
                        {
                            acc[c] += (double)row[c] * row[c];
                        }
                    }
                });
                tokens += length;
            }

            foreach ((string name, double[] acc) in sums)
            {
                entries[name] = ([.. acc.Select(v => (float)v)], tokens);
            }

            progress?.Invoke(l + 1, model.Blocks.Length);
        }

        return new ImportanceMatrix(entries, [data.Source], data.Sequences.Count, length);
    }
}
