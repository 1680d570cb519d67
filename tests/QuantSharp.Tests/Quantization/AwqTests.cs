using QuantSharp.Calibration;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

/// <summary>AWQ: scale folding is exact for the unquantized model, and AWQ beats round-to-nearest on output error.</summary>
public sealed class AwqTests
{
    internal static CalibrationData SelfData(TransformerModel model, int samples = 4, int length = 48)
        => CalibrationData.SelfGenerated(model, model.Config.BosTokenId ?? 1, samples, length, 1.0f, 7);

    internal static float[] Logits(TransformerModel model, int[] ids)
    {
        int vocab = model.Config.VocabSize;
        using var session = new InferenceSession(model, ids.Length);
        float[] logits = new float[ids.Length * vocab];
        session.Forward(ids, logits);
        return logits;
    }

    [Fact]
    public void ScaleFolding_LeavesUnquantizedOutputUnchanged()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Stories260K);
        TransformerModel model = loaded.Model;
        CalibrationData data = SelfData(model);
        CalibratedResult r = CalibratedQuantization.Run(model, data, QuantSpec.Int4(32), QuantMethod.Awq, new CalibrationOptions { AwqScaleOnly = true });

        // Norm weights were folded (so the test is not vacuous), and the unquantized outputs did not move.
        Assert.Equal(2 * model.Config.Layers, r.ReplacedTensors.Count);
        Assert.Contains(r.Layers, l => l.Note.StartsWith("awq α=", StringComparison.Ordinal) && l.Note != "awq α=0.00");
        Assert.NotEqual(model.Blocks[0].AttnNorm, r.Model.Blocks[0].AttnNorm);
        int[] ids = data.Sequences[1];
        float[] a = Logits(model, ids), b = Logits(r.Model, ids);
        // Folding is exact in real arithmetic; in floats W·s and x/s each round, and five layers carry that to the logits
        // as a few hundred ulps (a wrong fold moves them by orders of magnitude more).
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i], b[i], 5e-5 * Math.Max(1, Math.Abs(a[i])));
        }
    }

    [Fact]
    public void Awq_BeatsRoundToNearest_OnLayerWithSalientChannels()
    {
        int rows = 64, cols = 128, tokens = 512;
        QuantSpec spec = QuantSpec.Int3(64);
        float[] w = QuantTestData.Random(rows, cols, 41);
        var rng = new Random(42);
        float[] x = new float[tokens * cols];
        for (int t = 0; t < tokens; t++)
        {
            for (int c = 0; c < cols; c++)
            {
                // A few channels carry much larger activations (the salient ones AWQ protects).
                x[(t * cols) + c] = (float)GptqTests.Gaussian(rng) * (c % 16 == 3 ? 20f : 1f);
            }
        }

        float[] meanAbs = new float[cols];
        for (int t = 0; t < tokens; t++)
        {
            for (int c = 0; c < cols; c++)
            {
                meanAbs[c] += Math.Abs(x[(t * cols) + c]) / tokens;
            }
        }

        (float[] s, double alpha, double[] errors) = Awq.SearchScales([(w, rows)], cols, x, tokens, meanAbs, spec);
        Assert.True(alpha > 0, $"α search chose {alpha}");
        Assert.True(errors.Min() < errors[0] * 0.8, $"best {errors.Min():G4} vs α=0 {errors[0]:G4}");

        float[] scaled = new float[w.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                scaled[(r * cols) + c] = w[(r * cols) + c] * s[c];
            }
        }

        float[] xs = new float[x.Length];
        for (int t = 0; t < tokens; t++)
        {
            for (int c = 0; c < cols; c++)
            {
                xs[(t * cols) + c] = x[(t * cols) + c] / s[c];
            }
        }

        float[] clip = Awq.SearchClip(scaled, rows, cols, xs, 256, spec);
        Assert.Contains(clip, v => v < 1f);
        ILinearWeight awq = QuantizedLinear.Create(Awq.Pack("w", scaled, rows, cols, spec, clip));
        double eAwq = GptqTests.OutputError(scaled, GptqTests.Dequantize(awq), xs, rows, cols, tokens);
        double eRtn = GptqTests.OutputError(w, GptqTests.Dequantize(QuantizedLinear.Quantize("w", w, rows, cols, spec)), x, rows, cols, tokens);
        Assert.True(eAwq < 0.7 * eRtn, $"AWQ {eAwq:G4} vs RTN {eRtn:G4}");
    }

    [Fact]
    public void Awq_WholeModel_LowerLayerLossThanRtn()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Stories260K);
        CalibrationData data = SelfData(loaded.Model);
        QuantSpec spec = QuantSpec.Int3(32);
        CalibratedResult awq = CalibratedQuantization.Run(loaded.Model, data, spec, QuantMethod.Awq);
        CalibratedResult rtn = CalibratedQuantization.Run(loaded.Model, data, spec, QuantMethod.Rtn);
        Assert.Equal(rtn.Layers.Count, awq.Layers.Count);
        Assert.All(awq.Layers, l => Assert.Equal(spec.Name, l.Scheme));

        // Teacher-forced NLL on a held-out self-generated sequence: AWQ no worse than RTN.
        int[] ids = CalibrationData.SelfGenerated(loaded.Model, 1, 1, 64, 1.0f, 999).Sequences[0];
        Assert.True(Nll(awq.Model, ids) < Nll(rtn.Model, ids) + 0.01, $"AWQ {Nll(awq.Model, ids)} vs RTN {Nll(rtn.Model, ids)}");
    }

    internal static double Nll(TransformerModel model, int[] ids)
    {
        float[] logits = Logits(model, ids);
        int vocab = model.Config.VocabSize;
        double nll = 0;
        for (int t = 0; t + 1 < ids.Length; t++)
        {
            nll -= QuantSharp.Evaluation.LogProb.Of(logits.AsSpan(t * vocab, vocab), ids[t + 1]);
        }

        return nll / (ids.Length - 1);
    }
}
