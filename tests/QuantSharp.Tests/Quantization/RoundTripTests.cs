using System.Runtime.InteropServices;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

/// <summary>Round-trip error of every scheme within its analytical bound, on random and real matrices.</summary>
public class RoundTripTests
{
    /// <summary>Checks every dequantized weight against the scheme's bound; returns the mean absolute error.</summary>
    internal static double CheckBound(QuantizedTensor t, float[] w)
    {
        IQuantScheme scheme = QuantScheme.For(t.Spec);
        int rows = t.Rows, cols = t.Cols;
        float[] row = new float[cols];
        double total = 0;
        for (int r = 0; r < rows; r++)
        {
            scheme.DequantizeRow(t, r, row);
            for (int c = 0; c < cols; c++)
            {
                float x = w[(r * cols) + c];
                double err = Math.Abs(x - row[c]);
                total += err;
                double bound = Bound(t, scheme, w, r, c);
                Assert.True(err <= bound, $"{t.Spec} {t.Name} [{r},{c}]: |{x} − {row[c]}| = {err} > bound {bound}");
                Assert.True(float.IsFinite(row[c]));
            }
        }

        return total / w.Length;
    }

    private static double Bound(QuantizedTensor t, IQuantScheme scheme, float[] w, int r, int c)
    {
        int cols = t.Cols;
        float x = w[(r * cols) + c];
        switch (t.Spec.Kind)
        {
            case QuantSchemeKind.Int8:
                return (MemoryMarshal.Cast<byte, float>(t["scales"].Data)[r] / 2 * (1 + 1e-5)) + 1e-9;
            case QuantSchemeKind.Int4:
                {
                    int groups = Int4Scheme.Groups(cols, t.Spec.GroupSize);
                    float s = (float)MemoryMarshal.Cast<byte, Half>(t["scales"].Data)[(r * groups) + (c / t.Spec.GroupSize)];
                    return (s / 2 * (1 + 1e-5)) + 1e-9;
                }

            case QuantSchemeKind.Ternary:
                {
                    int span = TernaryScheme.ScaleSpan(t.Spec, cols);
                    int perRow = (cols + span - 1) / span;
                    ReadOnlySpan<float> scales = MemoryMarshal.Cast<byte, float>(t["scales"].Data);
                    float s = t.Spec.Granularity == TernaryGranularity.PerTensor ? scales[0] : scales[(r * perRow) + (c / span)];
                    return (Math.Max(s / 2, Math.Abs(x) - s) * (1 + 1e-5)) + 1e-9;
                }

            default:
                {
                    var fbf = (FourBitFloatScheme)scheme;
                    int b = c / FourBitFloatScheme.Block;
                    float[] absmax = new float[FourBitFloatScheme.Blocks(cols)];
                    fbf.RowAbsmax(t, r, absmax);
                    float trueMax = 0;
                    for (int i = b * 64; i < Math.Min(cols, (b * 64) + 64); i++)
                    {
                        trueMax = Math.Max(trueMax, Math.Abs(w[(r * cols) + i]));
                    }

                    float stored = absmax[b];
                    return (((fbf.MaxHalfGap * Math.Abs(stored)) + Math.Abs(trueMax - stored)) * (1 + 1e-5)) + 1e-9;
                }
        }
    }

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void RandomMatrices_WithinBound(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach ((int rows, int cols) in ((int, int)[])[(1, 1), (3, 7), (5, 64), (17, 172), (9, 256), (2, 4097)])
        {
            float[] w = QuantTestData.Random(rows, cols, rows * 1000 + cols);
            QuantizedTensor t = QuantScheme.Quantize(spec, $"rand{rows}x{cols}", w, rows, cols);
            CheckBound(t, w);
        }
    }

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void RealMatrices_WithinBound(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach ((string name, int rows, int cols, float[] w) in QuantTestData.RealMatrices())
        {
            QuantizedTensor t = QuantScheme.Quantize(spec, name, w, rows, cols);
            double mean = CheckBound(t, w);
            double meanAbs = w.Average(v => Math.Abs((double)v));

            // Sanity on top of the per-weight bound: 8-bit and 4-bit error is a small fraction of the weights' scale.
            double limit = spec.Kind switch { QuantSchemeKind.Int8 => 0.02, QuantSchemeKind.Ternary => 0.8, _ => 0.2 };
            Assert.True(mean < limit * meanAbs, $"{spec} {name}: mean error {mean} vs mean |w| {meanAbs}");
        }
    }

    [Fact]
    public void Int8_MoreAccurateThanInt4_MoreThanTernary()
    {
        float[] w = QuantTestData.Random(32, 256, 11);
        double e8 = CheckBound(QuantScheme.Quantize(QuantSpec.Int8(), "w", w, 32, 256), w);
        double e4 = CheckBound(QuantScheme.Quantize(QuantSpec.Int4(32, false), "w", w, 32, 256), w);
        double et = CheckBound(QuantScheme.Quantize(QuantSpec.Ternary(), "w", w, 32, 256), w);
        Assert.True(e8 < e4 && e4 < et, $"{e8} {e4} {et}");
    }

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void NaNOrInf_ThrowsNamingTensor(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach (float bad in (float[])[float.NaN, float.PositiveInfinity, float.NegativeInfinity])
        {
            float[] w = QuantTestData.Random(4, 40, 3);
            w[(2 * 40) + 5] = bad;
            var e = Assert.Throws<QuantSharpException>(() => QuantScheme.Quantize(spec, "model.layers.3.mlp.up_proj.weight", w, 4, 40));
            Assert.Contains("model.layers.3.mlp.up_proj.weight", e.Message);
            Assert.Contains("[2, 5]", e.Message);
        }
    }

    [Fact]
    public void ShapeMismatch_Throws()
        => Assert.Throws<QuantSharpException>(() => QuantScheme.Quantize(QuantSpec.Int8(), "w", new float[10], 3, 4));

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void AllZeroGroups_ScaleZero_NoNaN(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        int rows = 3, cols = 300;
        float[] w = QuantTestData.Random(rows, cols, 9);
        Array.Clear(w, 0, cols);                 // row 0 all zeros
        Array.Clear(w, cols + 128, 128);         // a zero run inside row 1 covering whole groups/blocks
        QuantizedTensor t = QuantScheme.Quantize(spec, "w", w, rows, cols);
        CheckBound(t, w);
        float[] row = new float[cols];
        QuantScheme.For(spec).DequantizeRow(t, 0, row);
        Assert.All(row, v => Assert.Equal(0f, v));
        QuantScheme.For(spec).DequantizeRow(t, 1, row);
        for (int c = 128; c < 256; c++)
        {
            Assert.Equal(0f, row[c]);
        }

        float[] zeros = new float[rows * cols];
        QuantizedTensor z = QuantScheme.Quantize(spec, "z", zeros, rows, cols);
        for (int r = 0; r < rows; r++)
        {
            QuantScheme.For(spec).DequantizeRow(z, r, row);
            Assert.All(row, v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void Ternary_IsBitNetAbsmean()
    {
        float[] w = QuantTestData.Random(4, 96, 21);
        QuantizedTensor t = QuantScheme.Quantize(QuantSpec.Ternary(TernaryGranularity.PerTensor), "w", w, 4, 96);
        float scale = MemoryMarshal.Cast<byte, float>(t["scales"].Data)[0];
        Assert.Equal(w.Average(v => Math.Abs((double)v)), scale, 5);
        float[] row = new float[96];
        for (int r = 0; r < 4; r++)
        {
            QuantScheme.For(t.Spec).DequantizeRow(t, r, row);
            for (int c = 0; c < 96; c++)
            {
                Assert.Equal(scale * Math.Clamp(MathF.Round(w[(r * 96) + c] / scale), -1, 1), row[c]);
            }
        }
    }

    [Fact]
    public void DoubleQuant_SmallerAndCloseToPlain()
    {
        float[] w = QuantTestData.Random(64, 512, 4);
        QuantizedTensor plain = QuantScheme.Quantize(QuantSpec.FourBitFloat(false), "w", w, 64, 512);
        QuantizedTensor dq = QuantScheme.Quantize(QuantSpec.FourBitFloat(false, true), "w", w, 64, 512);
        Assert.True(dq.ByteLength < plain.ByteLength);
        double ePlain = CheckBound(plain, w), eDq = CheckBound(dq, w);
        Assert.True(eDq < ePlain * 1.05, $"double quant error {eDq} vs {ePlain}");
        Assert.Equal(2, dq["absmax_scale"].Shape[0]); // 64 rows × 8 blocks = 512 absmax values = 2 runs of 256
    }
}
