using QuantSharp.Calibration;
using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Quantization;

/// <summary>Hugging Face GPTQ (v1) and AutoAWQ GEMM layouts: hand-packed bytes decode exactly; our writers round-trip.</summary>
public sealed class HfLayoutTests
{
    private static TensorView View(string name, DType dtype, long[] shape, byte[] bytes) => TensorView.FromBytes(name, dtype, shape, bytes);

    private static float[] Row(ILinearWeight w, int r)
    {
        float[] d = new float[w.Cols];
        w.DequantizeRow(r, d);
        return d;
    }

    [Fact]
    public void Gptq_HandPacked_DecodesExactly()
    {
        // 8 outputs × 8 inputs, 4 bits, one int32 row of qweight: code(k, j) = (k + j) mod 16 in nibble k of word j.
        byte[] qweight =
        [
            0x10, 0x32, 0x54, 0x76, 0x21, 0x43, 0x65, 0x87, 0x32, 0x54, 0x76, 0x98, 0x43, 0x65, 0x87, 0xA9,
            0x54, 0x76, 0x98, 0xBA, 0x65, 0x87, 0xA9, 0xCB, 0x76, 0x98, 0xBA, 0xDC, 0x87, 0xA9, 0xCB, 0xED,
        ];

        // Two groups. qzeros word per group: group 0 stores 7 (zero 8) for every output, group 1 stores 3 (zero 4).
        byte[] qzeros = [0x77, 0x77, 0x77, 0x77, 0x33, 0x33, 0x33, 0x33];

        // scales F16 [2, 8]: group 0 = 0.5 (0x3800), group 1 = 2.0 (0x4000).
        byte[] scales = [.. Enumerable.Repeat(new byte[] { 0x00, 0x38 }, 8).SelectMany(b => b), .. Enumerable.Repeat(new byte[] { 0x00, 0x40 }, 8).SelectMany(b => b)];

        // g_idx (act-order style): inputs 0, 2, 4, 6 in group 1, the others in group 0.
        byte[] gIdx = [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        var tensors = new Dictionary<string, TensorView>
        {
            ["l.qweight"] = View("l.qweight", DType.I32, [1, 8], qweight),
            ["l.qzeros"] = View("l.qzeros", DType.I32, [2, 1], qzeros),
            ["l.scales"] = View("l.scales", DType.F16, [2, 8], scales),
            ["l.g_idx"] = View("l.g_idx", DType.I32, [8], gIdx),
        };
        var w = new HfGptqLinear("l", tensors, 4);
        Assert.Equal((8, 8), (w.Rows, w.Cols));
        for (int j = 0; j < 8; j++)
        {
            float[] row = Row(w, j);
            for (int k = 0; k < 8; k++)
            {
                float expected = k % 2 == 0 ? 2.0f * (((k + j) & 15) - 4) : 0.5f * (((k + j) & 15) - 8);
                Assert.Equal(expected, row[k]);
            }
        }

        float[] x = [1, 2, 3, 4, 5, 6, 7, 8];
        float[] y = new float[8];
        w.MatVec(x, y);
        Assert.Equal(Enumerable.Range(0, 8).Select(k => Row(w, 0)[k] * x[k]).Sum(), y[0], 1e-5f);

        tensors["l.g_idx"] = View("l.g_idx", DType.I32, [8], [.. gIdx[..^4], 2, 0, 0, 0]);
        Assert.Contains("outside 0..1", Assert.Throws<QuantSharpException>(() => new HfGptqLinear("l", tensors, 4)).Message);
    }

    [Fact]
    public void Awq_HandPacked_DecodesExactlyWithInterleave()
    {
        // 8 outputs × 8 inputs, group 8. code(k, j) = j: nibble i of each word holds output order[i] = [0,2,4,6,1,3,5,7].
        byte[] qweight = [.. Enumerable.Repeat(new byte[] { 0x20, 0x64, 0x31, 0x75 }, 8).SelectMany(b => b)];
        byte[] qzeros = [0x33, 0x33, 0x33, 0x33]; // zero 3 for every output (no offset)
        byte[] scales = [.. Enumerable.Repeat(new byte[] { 0x00, 0x3C }, 8).SelectMany(b => b)]; // 1.0
        var tensors = new Dictionary<string, TensorView>
        {
            ["l.qweight"] = View("l.qweight", DType.I32, [8, 1], qweight),
            ["l.qzeros"] = View("l.qzeros", DType.I32, [1, 1], qzeros),
            ["l.scales"] = View("l.scales", DType.F16, [1, 8], scales),
        };
        var w = new HfAwqLinear("l", tensors, 8);
        for (int j = 0; j < 8; j++)
        {
            Assert.All(Row(w, j), v => Assert.Equal(j - 3, v));
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Writers_RoundTripGptqAndAwqResults(bool actOrder, bool awq)
    {
        int rows = 24, cols = 64, tokens = 256;
        float[] w = QuantTestData.Random(rows, cols, 51);
        float[] x = GptqTests.CorrelatedInputs(tokens, cols, 52);
        var acc = new HessianAccumulator(cols);
        acc.Add(x, tokens);
        QuantizedTensor packed = awq
            ? Awq.Pack("m.weight", w, rows, cols, QuantSpec.Int4(32), [])
            : Gptq.Quantize("m.weight", w, rows, cols, acc.Covariance(), QuantSpec.Int4(32), new GptqOptions { ActOrder = actOrder }).Packed;
        PackedLinear ours = QuantizedLinear.Create(packed);
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        using (var writer = new SafetensorsWriter(dir.Path))
        {
            if (awq)
            {
                HfQuantizedWriter.WriteAwq(writer, "m.weight", ours);
            }
            else
            {
                HfQuantizedWriter.WriteGptq(writer, "m.weight", ours);
            }

            writer.Commit(path);
        }

        using SafetensorsFile file = SafetensorsFile.Open(path);
        ILinearWeight theirs = awq ? new HfAwqLinear("m", file.Tensors, 32) : new HfGptqLinear("m", file.Tensors, 4);
        Assert.Equal((rows, cols), (theirs.Rows, theirs.Cols));
        Assert.Equal(GptqTests.Dequantize(ours), GptqTests.Dequantize(theirs));
    }

    [Theory]
    [InlineData(HfQuantLayout.Gptq)]
    [InlineData(HfQuantLayout.AwqGemm)]
    public void Checkpoint_SaveThenLoadThroughModelLoader_SameLogits(HfQuantLayout layout)
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.BrownLlama);
        TransformerModel q = CalibratedQuantization.QuantizeRtn(loaded.Model, _ => QuantSpec.Int4(128));
        using var dir = new TempDir();
        string outDir = Path.Combine(dir.Path, "out");
        HfQuantizedCheckpoint.Save(q, TestPaths.BrownLlama, outDir, layout);
        Assert.False(Directory.Exists(outDir + $".tmp-{Environment.ProcessId}"));
        using LoadedModel reloaded = ModelLoader.Load(outDir);
        string first = reloaded.Model.BlockLinears().First().Weight.Scheme;
        Assert.Equal(layout == HfQuantLayout.Gptq ? "gptq-int4" : "awq-int4-g128", first);
        // The weights decode to exactly the same values.
        foreach (((string name, ILinearWeight w), (string name2, ILinearWeight w2)) in q.BlockLinears().Zip(reloaded.Model.BlockLinears()))
        {
            Assert.Equal(name, name2);
            Assert.Equal(GptqTests.Dequantize(w), GptqTests.Dequantize(w2));
        }

        // Logits agree up to the int8 activation rounding of our int4 kernel (the HF readers multiply in float).
        int[] ids = [1, 450, 1081, 338, 263, 1243, 2988, 13, 100, 200];
        float[] a = AwqTests.Logits(q, ids), b = AwqTests.Logits(reloaded.Model, ids);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i], b[i], 0.25f);
        }

        int vocab = q.Config.VocabSize;
        for (int t = 0; t < ids.Length; t++)
        {
            Assert.Equal(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(a.AsSpan(t * vocab, vocab)), System.Numerics.Tensors.TensorPrimitives.IndexOfMax(b.AsSpan(t * vocab, vocab)));
        }

        Assert.Throws<QuantSharpException>(() => HfQuantizedCheckpoint.Save(q, TestPaths.BrownLlama, outDir, layout));

        // --force: the folder is replaced atomically and still loads.
        File.WriteAllText(Path.Combine(outDir, "stale.txt"), "old");
        HfQuantizedCheckpoint.Save(q, TestPaths.BrownLlama, outDir, layout, overwrite: true);
        Assert.False(File.Exists(Path.Combine(outDir, "stale.txt")));
        using LoadedModel again = ModelLoader.Load(outDir);
        Assert.Equal(q.Config.Layers, again.Model.Blocks.Length);
    }
}
