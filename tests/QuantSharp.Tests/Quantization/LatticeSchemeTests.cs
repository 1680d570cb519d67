using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

public class LatticeSchemeTests
{
    public static TheoryData<string> Names() => ["iq2_xs", "iq2_s", "iq3_xxs", "iq3_s"];

    private static float[] Gaussian(int count, int seed)
    {
        var rng = new Random(seed);
        var w = new float[count];
        for (int i = 0; i < count; i++)
        {
            w[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())) * 0.02f;
        }

        return w;
    }

    private static double RelativeError(float[] w, float[] q)
    {
        double e = 0, n = 0;
        for (int i = 0; i < w.Length; i++)
        {
            e += (double)(w[i] - q[i]) * (w[i] - q[i]);
            n += (double)w[i] * w[i];
        }

        return Math.Sqrt(e / n);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void CodedBlocksDecodeToWhatTheQuantizerChose(string name)
    {
        LatticeFormat format = LatticeFormat.For(QuantSpec.ParseName(name).Kind)!;
        var quantizer = new LatticeQuantizer(format);
        float[] x = Gaussian(256, 1);
        x[17] = 0.2f; // an outlier
        float[] w = GroupGrid.ErrorWeights(x, Enumerable.Repeat(1f, 256).ToArray());
        var block = new byte[format.BlockBytes];
        var chosen = new float[256];
        quantizer.CodeBlock(x, w, block, chosen);
        var decoded = new float[256];
        GgufDequantize.Row(format.Type, block, decoded);
        Assert.Equal(chosen, decoded);
        Assert.InRange(RelativeError(x, decoded), 0.05, format.Type is GgmlType.IQ2_XS or GgmlType.IQ2_S ? 0.45 : 0.3);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ErrorFallsAsBitsRiseAndImportanceProtectsItsColumns(string name)
    {
        QuantSpec spec = QuantSpec.ParseName(name);
        Assert.Equal(name, spec.Name);
        var scheme = new LatticeScheme(spec);
        const int rows = 32, cols = 512;
        float[] w = Gaussian(rows * cols, 2);
        QuantizedTensor plain = scheme.Quantize("w", w, rows, cols);
        float[] importance = [.. Enumerable.Range(0, cols).Select(c => c % 8 == 3 ? 100f : 1f)];
        QuantizedTensor weighted = scheme.Quantize("w", w, rows, cols, importance);

        float[] Decode(QuantizedTensor t)
        {
            var all = new float[rows * cols];
            for (int r = 0; r < rows; r++)
            {
                scheme.DequantizeRow(t, r, all.AsSpan(r * cols, cols));
            }

            return all;
        }

        double ImportantError(float[] q) => RelativeError([.. w.Where((_, i) => i % 8 == 3)], [.. q.Where((_, i) => i % 8 == 3)]);
        float[] p = Decode(plain), q = Decode(weighted);
        Assert.True(ImportantError(q) < 0.8 * ImportantError(p), $"{name}: important columns {ImportantError(q):F4} weighted vs {ImportantError(p):F4} plain");
        Assert.True(RelativeError(w, p) < spec.Bits switch { 2 => 0.45, _ => 0.25 }, $"{name}: relative RMS error {RelativeError(w, p):F4}");

        // The packed weight multiplies like its decoded rows (with the activations rounded to int8 per 32 where the int8
        // kernel runs).
        PackedLinear linear = QuantizedLinear.Create(plain);
        float[] x = Gaussian(cols, 3), y = new float[rows];
        linear.MatVec(x, y);
        x = RoundedLikeTheKernel(LatticeFormat.For(spec.Kind)!.Type, x);
        for (int r = 0; r < rows; r++)
        {
            double dot = 0;
            for (int c = 0; c < cols; c++)
            {
                dot += (double)p[(r * cols) + c] * x[c];
            }

            Assert.Equal(dot, y[r], 1e-5);
        }
    }

    /// <summary><paramref name="x"/> as the lattice weight's kernel sees it: rounded to int8 per 32 where
    /// <see cref="LatticeProduct"/> runs the int8 kernel, else unchanged.</summary>
    internal static unsafe float[] RoundedLikeTheKernel(GgmlType type, float[] x)
    {
        if (!LatticeProduct.RoundsActivations(type))
        {
            return x;
        }

        float[] rounded = new float[x.Length];
        fixed (float* px = x, pr = rounded)
        {
            ActivationQuantizer.Round(px, 1, x.Length, pr);
        }

        return rounded;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ZeroBlocksStayZeroAndBadWeightsAreRefusedByName(string name)
    {
        var scheme = new LatticeScheme(QuantSpec.ParseName(name));
        float[] w = Gaussian(2 * 512, 4);
        Array.Clear(w, 0, 512); // row 0 all zeros
        Array.Clear(w, 512 + 256, 256); // the second block of row 1
        QuantizedTensor t = scheme.Quantize("w", w, 2, 512);
        var row = new float[512];
        scheme.DequantizeRow(t, 0, row);
        Assert.All(row, v => Assert.Equal(0f, v));
        scheme.DequantizeRow(t, 1, row);
        Assert.All(row[256..], v => Assert.Equal(0f, v));
        Assert.Contains(row[..256], v => v != 0);

        w[700] = float.NaN;
        var e = Assert.Throws<QuantSharpException>(() => scheme.Quantize("model.layers.3.mlp.up_proj.weight", w, 2, 512));
        Assert.Contains("model.layers.3.mlp.up_proj.weight", e.Message);
        Assert.Contains("[1, 188]", e.Message);
    }

    [Fact]
    public void NamesParseAndOptionsThatDoNotApplyAreRefused()
    {
        foreach ((string name, int bits) in new[] { ("iq2_xs", 2), ("IQ2_S", 2), ("iq3_xxs", 3), ("iq3_s", 3) })
        {
            QuantSpec spec = QuantSpec.Parse(name);
            Assert.True(spec.IsLattice);
            Assert.Equal(name.ToLowerInvariant(), spec.Name);
            Assert.Equal(bits, spec.Bits);
        }

        Assert.Throws<QuantSharpException>(() => QuantSpec.Parse("iq2_xs", groupSize: 64));
        Assert.Throws<QuantSharpException>(() => QuantSpec.Parse("iq2_xs", symmetric: true));
        Assert.Throws<QuantSharpException>(() => QuantSpec.ParseName("iq2_xs-g64"));
    }

    [Fact]
    public void RowsThatAreNotWholeBlocksFallBackToInt4G32SymInCheckpoints()
    {
        QuantSpec lattice = QuantSpec.ParseName("iq3_s");
        Assert.Same(lattice, lattice.FitRowLength(512));
        Assert.Equal("int4-g32-sym", lattice.FitRowLength(13696).Name);
        Assert.Equal("int4-g128-asym", QuantSpec.ParseName("int4").FitRowLength(100).Name);

        // stories260K's rows (64, 172 wide) take no 256-weight block: every weight falls back, and the folder says so.
        using var dir = new TempDir();
        (int exit, string stdout, string stderr) = Cli.CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("q"), "--scheme", "iq2_xs");
        Assert.True(exit == 0, stderr);
        Assert.Contains("35 as int4-g32-sym", stdout.ReplaceLineEndings(" "));
        using QuantSharp.Models.LoadedModel loaded = QuantSharp.Models.ModelLoader.Load(dir.File("q"));
        Assert.All(loaded.Model.BlockLinears(), l => Assert.Equal("int4-g32-sym", l.Weight.Scheme));
    }

    [Fact]
    public void RowsThatAreNotWholeBlocksAreRefused()
    {
        var e = Assert.Throws<QuantSharpException>(() => new LatticeScheme(QuantSpec.ParseName("iq2_xs")).Quantize("blk.w", new float[4 * 384], 4, 384));
        Assert.Contains("blk.w", e.Message);
        Assert.Contains("256", e.Message);
    }
}

/// <summary>The same weights (Gaussian with outliers) coded by QuantSharp and by ggml's own quantizer
/// (<c>ggml_quantize_chunk</c>, what llama-quantize runs), plain and with an importance per column: QuantSharp's
/// importance-weighted squared error must be lower.</summary>
public class LatticeSchemeVersusLlamaCppTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [SkippableTheory]
    [MemberData(nameof(LatticeSchemeTests.Names), MemberType = typeof(LatticeSchemeTests))]
    public void RoundToNearestErrorIsAtMostLlamaCpps(string name)
    {
        Tests.Formats.Gguf.LlamaCpp.SkipUnlessAvailable();
        QuantSpec spec = QuantSpec.ParseName(name);
        var scheme = new LatticeScheme(spec);
        const int rows = 64, cols = 1024;
        float[] w = QuantTestData.Random(rows, cols, 11);
        var rng = new Random(5);
        float[] importance = [.. Enumerable.Range(0, cols).Select(_ => (float)Math.Exp(2 * rng.NextDouble()))];
        foreach (float[]? imp in new[] { null, importance })
        {
            QuantizedTensor ours = imp is null ? scheme.Quantize("w", w, rows, cols) : scheme.Quantize("w", w, rows, cols, imp);
            byte[] theirs = Tests.Formats.Gguf.LlamaCpp.QuantizeRows(scheme.BlockType, w, rows, cols, imp ?? (scheme.BlockType is GgmlType.IQ2_XS ? [.. Enumerable.Repeat(1f, cols)] : null));
            double oursError = 0, theirsError = 0;
            var a = new float[cols];
            var b = new float[cols];
            int rowBytes = theirs.Length / rows;
            for (int r = 0; r < rows; r++)
            {
                scheme.DequantizeRow(ours, r, a);
                GgufDequantize.Row(scheme.BlockType, theirs.AsSpan(r * rowBytes, rowBytes), b);
                for (int c = 0; c < cols; c++)
                {
                    float x = w[(r * cols) + c], i = imp?[c] ?? 1f;
                    oursError += i * (x - a[c]) * (x - a[c]);
                    theirsError += i * (x - b[c]) * (x - b[c]);
                }
            }

            output.WriteLine($"{name} {(imp is null ? "plain" : "importance")}: weighted squared error QuantSharp {oursError:E3}, llama.cpp {theirsError:E3} ({oursError / theirsError:F3}×)");
            Assert.True(oursError < theirsError, $"{name}: QuantSharp's error {oursError:E3} is not below llama.cpp's {theirsError:E3}");
        }
    }
}

/// <summary>brown-llama with its block linears on a lattice codebook: saved and reloaded as a QuantSharp checkpoint it
/// gives the same logits; exported to GGUF its blocks are copied unchanged and QuantSharp reads the file back.</summary>
public sealed class LatticeCheckpointTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SavedWeightReloadsInPlaceWithIdenticalOutputs()
    {
        const string name = "model.layers.0.mlp.down_proj.weight";
        PackedLinear original = QuantizedLinear.Quantize(name, QuantTestData.Random(24, 768, 2), 24, 768, QuantSpec.ParseName("iq2_xs"));
        string path = _dir.File("w.safetensors");
        using (var writer = new QuantSharp.Formats.SafetensorsWriter(_dir.Path))
        {
            QuantizedLinear.Write(writer, name, original);
            writer.Commit(path);
        }

        using QuantSharp.Formats.SafetensorsFile file = QuantSharp.Formats.SafetensorsFile.Open(path);
        PackedLinear loaded = QuantizedLinear.Load(name, file.Tensors);
        Assert.IsType<LatticeLinear>(loaded);
        Assert.Equal(original.Spec, loaded.Spec);
        float[] x = QuantTestData.Random(3, 768, 5), a = new float[3 * 24], b = new float[3 * 24];
        original.MatMul(x, 3, a);
        loaded.MatMul(x, 3, b);
        Assert.Equal(a, b);
        Assert.True(((LatticeLinear)loaded).RowData(5).SequenceEqual(((LatticeLinear)original).RowData(5)));
    }

    private static readonly int[] s_prompt = [1, 403, 385, 260, 300, 271, 290, 416, 302, 278, 317, 261];

    private static float[] Logits(QuantSharp.Models.TransformerModel model)
    {
        using var session = new QuantSharp.Models.InferenceSession(model);
        float[] logits = new float[s_prompt.Length * model.Config.VocabSize];
        session.Forward(s_prompt, logits);
        return logits;
    }

    [Theory]
    [InlineData("iq2_xs", GgmlType.IQ2_XS)]
    [InlineData("iq3_xxs", GgmlType.IQ3_XXS)]
    public void SaveReloadAndGgufExportKeepTheBlocks(string scheme, GgmlType type)
    {
        using var dir = new TempDir();
        string folder = dir.File("q");
        (int exit, _, string stderr) = Cli.CliRunner.Run("quantize", TestPaths.BrownLlama, folder, "--scheme", scheme);
        Assert.True(exit == 0, stderr);
        using QuantSharp.Models.LoadedModel saved = QuantSharp.Models.ModelLoader.Load(folder);
        Assert.Equal(42, saved.Model.BlockLinears().Count(l => l.Weight is LatticeLinear));
        float[] expected = Logits(saved.Model);

        string gguf = dir.File("q.gguf");
        QuantSharp.Models.GgufExportReport report = QuantSharp.Models.GgufExporter.Export(saved, gguf, new QuantSharp.Models.GgufExportOptions { Type = type });
        Assert.Equal(42, report.Tensors.Count(t => t.Written == type && t.Action == "copied"));
        using QuantSharp.Models.LoadedModel back = QuantSharp.Models.ModelLoader.Load(gguf);
        float[] actual = Logits(back.Model);
        for (int i = 0; i < expected.Length; i++)
        {
            // Same weights; the embedding and classifier are Q8_0 in the file, which moves the activations' int8
            // rounding in the lattice kernels, and the dot products sum in another order.
            Assert.True(Math.Abs(expected[i] - actual[i]) < 0.1f, $"logit {i}: {expected[i]} in the checkpoint, {actual[i]} from the GGUF");
        }
    }
}
