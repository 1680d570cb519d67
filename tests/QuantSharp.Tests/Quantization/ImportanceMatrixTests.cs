using QuantSharp.Calibration;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

public sealed class ImportanceMatrixTests
{
    private static CalibrationData Sequences() => CalibrationData.FromSequences(
        [[1, 5, 17, 300, 42, 8, 99, 250], [1, 400, 3, 3, 77, 128, 511, 2]], "test ids");

    [Fact]
    public void TheFirstBlocksAttentionInputIsTheNormedEmbeddingSquaredAndSummed()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Stories260K);
        TransformerModel model = loaded.Model;
        CalibrationData data = Sequences();
        ImportanceMatrix matrix = ImportanceCollector.Collect(model, data);

        // By hand: RMSNorm(embedding row) · attn_norm weight, squared, summed over the 16 tokens.
        int d = model.Config.HiddenSize;
        double[] expected = new double[d];
        float[] row = new float[d];
        foreach (int[] sequence in data.Sequences)
        {
            foreach (int token in sequence)
            {
                model.Embedding.DequantizeRow(token, row);
                double ms = row.Sum(v => (double)v * v) / d;
                double inv = 1 / Math.Sqrt(ms + model.Config.NormEps);
                for (int c = 0; c < d; c++)
                {
                    double v = row[c] * inv * model.Blocks[0].AttnNorm[c];
                    expected[c] += v * v;
                }
            }
        }

        string q = model.Spec.LayerPrefix(0) + model.Spec.Q;
        Assert.Equal(16f, matrix.Count(q));
        float[] mean = matrix.MeanSquares(q)!;
        for (int c = 0; c < d; c++)
        {
            Assert.Equal(expected[c] / 16, mean[c], expected[c] / 16 * 1e-4);
        }

        // q, k and v read the same input; every block linear has an entry of its input width.
        Assert.Equal(mean, matrix.MeanSquares(model.Spec.LayerPrefix(0) + model.Spec.K)!);
        Assert.Equal(mean, matrix.MeanSquares(model.Spec.LayerPrefix(0) + model.Spec.V)!);
        foreach ((string name, ILinearWeight w) in model.BlockLinears())
        {
            Assert.Equal(w.Cols, matrix.MeanSquares(name)!.Length);
        }
    }

    [Fact]
    public void SaveWritesLlamaCppsImatrixLayoutAndLoadReadsItBack()
    {
        using var dir = new TempDir();
        var entries = new Dictionary<string, (float[], float)>
        {
            ["blk.0.attn_q.weight"] = ([1f, 4f, 9f], 2f),
            ["blk.0.ffn_down.weight"] = ([0f, 0.5f], 8f),
        };
        string path = dir.File("m.imatrix.gguf");
        new ImportanceMatrix(entries, ["wiki.txt"], 7, 256).Save(path);

        using (GgufFile f = GgufFile.Open(path))
        {
            Assert.Equal("imatrix", f.GetString("general.type"));
            Assert.Equal(["wiki.txt"], f.GetArray<string>("imatrix.datasets"));
            Assert.Equal(7, f.GetInteger("imatrix.chunk_count"));
            Assert.Equal(256, f.GetInteger("imatrix.chunk_size"));
            Assert.Equal(["blk.0.attn_q.weight.in_sum2", "blk.0.attn_q.weight.counts", "blk.0.ffn_down.weight.in_sum2", "blk.0.ffn_down.weight.counts"],
                f.TensorsInOrder.Select(t => t.Name));
            Assert.Equal([3L, 1L], f.GetTensor("blk.0.attn_q.weight.in_sum2").Dimensions);
        }

        ImportanceMatrix back = ImportanceMatrix.Load(path);
        Assert.Equal([0.5f, 2f, 4.5f], back.MeanSquares("blk.0.attn_q.weight")!);
        Assert.Equal([0f, 0.0625f], back.MeanSquares("blk.0.ffn_down.weight")!);
        Assert.Null(back.MeanSquares("blk.1.attn_q.weight"));
        Assert.Equal(7, back.ChunkCount);
        Assert.Equal([1f, 4f, 9f], back.Renamed(n => n.Replace("blk.0.", "model.layers.0.", StringComparison.Ordinal)).MeanSquares("model.layers.0.attn_q.weight")!.Select(v => v * 2));
    }

    [Fact]
    public void FilesThatAreNotImatricesAreRefusedNamingTheFile()
    {
        using var dir = new TempDir();
        string dat = dir.File("legacy.dat");
        File.WriteAllBytes(dat, [1, 0, 0, 0, 0, 0, 0, 0]);
        Assert.Contains("legacy .dat", Assert.Throws<QuantSharpException>(() => ImportanceMatrix.Load(dat)).Message);

        string model = dir.File("model.gguf");
        using (LoadedModel m = ModelLoader.Load(TestPaths.Stories260K))
        {
            GgufExporter.Export(m, model, new GgufExportOptions { Type = GgmlType.F32 });
        }

        QuantSharpException e = Assert.Throws<QuantSharpException>(() => ImportanceMatrix.Load(model));
        Assert.Contains(model, e.Message);
        Assert.Contains("general.type", e.Message);
    }

    [Fact]
    public void WeightedGridsAreNeverWorseThanPlainGridsUnderTheSameWeights()
    {
        var random = new Random(3);
        foreach ((int bits, bool symmetric) in new[] { (2, false), (3, false), (4, false), (2, true), (4, true) })
        {
            for (int trial = 0; trial < 200; trial++)
            {
                float[] w = [.. Enumerable.Range(0, 64).Select(_ => (float)((random.NextDouble() - 0.5) * Math.Exp(random.NextDouble() * 3)))];
                float[] a = [.. Enumerable.Range(0, 64).Select(_ => (float)Math.Exp(random.NextDouble() * 6))];
                GroupGrid plain = GroupGrid.Fit(w, bits, symmetric);
                GroupGrid weighted = GroupGrid.FitWeighted(w, a, bits, symmetric);
                Assert.True(weighted.Error(w, a) <= plain.Error(w, a), $"{bits}-bit {(symmetric ? "sym" : "asym")} trial {trial}");
                Assert.Equal(plain.MaxCode, weighted.MaxCode);
                Assert.Equal((float)(Half)weighted.Scale, weighted.Scale); // still an exact F16 scale
            }
        }
    }

    [Fact]
    public void AWeightedGridFollowsTheImportantWeights()
    {
        // One large but unimportant outlier: the plain grid spends its range on it, the weighted grid clips it.
        float[] w = [.. Enumerable.Range(0, 32).Select(i => (float)Math.Sin(i) * 0.1f), 4f];
        float[] a = [.. Enumerable.Repeat(1f, 32), 1e-6f];
        GroupGrid plain = GroupGrid.Fit(w, 2, false);
        GroupGrid weighted = GroupGrid.FitWeighted(w, a, 2, false);
        Assert.True(weighted.Scale < plain.Scale / 2, $"{weighted.Scale} vs {plain.Scale}");
        Assert.True(weighted.Error(w, a) < plain.Error(w, a) / 4);
    }

    [Fact]
    public void ImportanceValuesMustMatchTheColumnsAndBeFinite()
    {
        var scheme = new IntGroupScheme(QuantSpec.Parse("int2", 32));
        float[] w = new float[2 * 32];
        Assert.Contains("31 values for 32", Assert.Throws<QuantSharpException>(() => scheme.Quantize("t", w, 2, 32, new float[31])).Message);
        float[] bad = new float[32];
        bad[5] = float.NaN;
        Assert.Contains("not a finite number", Assert.Throws<QuantSharpException>(() => scheme.Quantize("t", w, 2, 32, bad)).Message);
    }

    [Fact]
    public void WeightedTernaryScalesLowerTheWeightedErrorAndPerTensorScalesAreRefused()
    {
        var random = new Random(11);
        const int rows = 8, cols = 128;
        float[] w = [.. Enumerable.Range(0, rows * cols).Select(_ => (float)((random.NextDouble() - 0.5) * Math.Exp(random.NextDouble() * 2)))];
        float[] a = [.. Enumerable.Range(0, cols).Select(_ => (float)Math.Exp(random.NextDouble() * 6))];
        foreach (string scheme in new[] { "ternary", "ternary-g64" })
        {
            var spec = QuantSpec.Parse(scheme);
            var ternary = new TernaryScheme(spec);
            QuantizedTensor plain = ternary.Quantize("t", w, rows, cols);
            QuantizedTensor weighted = ternary.Quantize("t", w, rows, cols, a);
            double Error(QuantizedTensor q)
            {
                double e = 0;
                float[] row = new float[cols];
                for (int r = 0; r < rows; r++)
                {
                    ternary.DequantizeRow(q, r, row);
                    for (int c = 0; c < cols; c++)
                    {
                        double d = w[(r * cols) + c] - row[c];
                        e += a[c] * d * d;
                    }
                }

                return e;
            }

            // The scale search minimises a·√(σ² + w²)-weighted error, so compare under importance alone loosely and
            // require a clear gain: these importances span e⁶.
            Assert.True(Error(weighted) < Error(plain) * 0.95, $"{scheme}: weighted {Error(weighted)} vs absmean {Error(plain)}");
        }

        var perTensor = new TernaryScheme(QuantSpec.Parse("ternary", granularity: TernaryGranularity.PerTensor));
        Assert.Contains("per row or group", Assert.Throws<QuantSharpException>(() => perTensor.Quantize("t", w, rows, cols, a)).Message);
    }
}
