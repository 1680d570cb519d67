using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;
using QuantSharp.Tensors;
using Xunit.Abstractions;

namespace QuantSharp.Tests.Models;

/// <summary>
/// GLM's fused projections (query_key_value, dense_h_to_4h) quantize as ordinary linear layers: every block linear of
/// the tiny GLM models is quantized with <see cref="QuantizedLinear.Quantize(TensorView, QuantSpec)"/>, run, saved and
/// reloaded. Embedding, output layer, norms and the qkv bias stay dense.
/// </summary>
public sealed class GlmQuantizationTests(ITestOutputHelper output)
{
    private static readonly int[] s_prompt = [.. Enumerable.Range(1, 20)];

    /// <summary>
    /// Regression bounds on max |Δ logit| over all 20 positions, relative to the largest dense logit (≈ 17). They are
    /// loose because these fixtures amplify any weight change: their random std-0.5 weights saturate attention, so the
    /// dense model run over the dequantized weights moves as far as the packed one (the measured figures are printed
    /// and listed in docs/glm.md).
    /// </summary>
    public static TheoryData<string, string, double> Cases => new()
    {
        { "chatglm3-tiny", "int8", 0.25 },
        { "glm4-tiny", "int8", 0.25 },
        { "chatglm3-tiny", "int4-g32-asym", 1.5 },
        { "glm4-tiny", "int4-g32-asym", 1.5 },
    };

    private static Dictionary<string, PackedLinear> QuantizeBlocks(TransformerModel model, IWeightSource source, QuantSpec spec)
        => model.Spec.BlockLinearNames(model.Config.Layers).ToDictionary(n => n, n => QuantizedLinear.Quantize(source.Tensors[n], spec));

    private static float[] AllLogits(TransformerModel model)
    {
        int vocab = model.Config.VocabSize;
        using var session = new InferenceSession(model, s_prompt.Length);
        float[] logits = new float[s_prompt.Length * vocab];
        session.Forward(s_prompt, logits);
        return logits;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void QuantizedFusedModel_LogitsCloseToDense(string name, string scheme, double bound)
    {
        using LoadedModel dense = ModelLoader.Load(GlmFixture.Path(name));
        using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(GlmFixture.Path(name));
        Dictionary<string, PackedLinear> packed = QuantizeBlocks(dense.Model, source, QuantSpec.ParseName(scheme));
        Assert.Contains(packed, p => p.Key.EndsWith("query_key_value.weight", StringComparison.Ordinal) && p.Value.Rows == 128);
        Assert.Contains(packed, p => p.Key.EndsWith("dense_h_to_4h.weight", StringComparison.Ordinal) && p.Value.Rows == 192);
        using TransformerModel quantized = TransformerModel.Create(dense.Model.Config, source, new PackedProvider(source, packed));
        Assert.All(quantized.Blocks, b => Assert.IsAssignableFrom<PackedLinear>(b.Qkv));

        float[] reference = AllLogits(dense.Model);
        float[] logits = AllLogits(quantized);
        double scale = reference.Max(Math.Abs);
        double diff = GlmFixture.MaxAbsDiff(reference, logits);
        int vocab = dense.Model.Config.VocabSize;
        int top1Agree = Enumerable.Range(0, s_prompt.Length).Count(t =>
            System.Numerics.Tensors.TensorPrimitives.IndexOfMax(reference.AsSpan(t * vocab, vocab)) == System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(t * vocab, vocab)));
        long denseBytes = dense.Model.BlockLinears().Sum(l => l.Weight.BytesInMemory);
        long packedBytes = quantized.BlockLinears().Sum(l => l.Weight.BytesInMemory);
        output.WriteLine($"{name} {scheme}: max |Δ logit| {diff:F4} (max |logit| {scale:F2}); top-1 agrees at {top1Agree}/{s_prompt.Length} positions; block linears {denseBytes} → {packedBytes} bytes");
        Assert.True(diff > 0, "quantization changed nothing: the packed weights were not used");
        Assert.True(diff <= bound * scale, $"max |Δ logit| {diff:F4} exceeds {bound} × {scale:F2}");
    }

    /// <summary>
    /// Isolates the quantized kernels on the fused weights from the model's sensitivity: the packed model against the
    /// same model run densely over the dequantized weights (the only remaining difference is the kernels' int8
    /// activation rounding), and the first block's output against the dense model's.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void QuantizedFusedModel_MatchesItsDequantizedWeights(string name, string scheme, double bound)
    {
        _ = bound;
        using LoadedModel dense = ModelLoader.Load(GlmFixture.Path(name));
        using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(GlmFixture.Path(name));
        Dictionary<string, PackedLinear> packed = QuantizeBlocks(dense.Model, source, QuantSpec.ParseName(scheme));
        var tensors = source.Tensors.ToDictionary(t => t.Key, t => t.Value);
        double worstWeight = 0;
        foreach ((string n, PackedLinear w) in packed)
        {
            float[] values = new float[w.Rows * w.Cols];
            for (int r = 0; r < w.Rows; r++)
            {
                w.DequantizeRow(r, values.AsSpan(r * w.Cols, w.Cols));
            }

            float[] original = source.Tensors[n].ToFloatArray();
            worstWeight = Math.Max(worstWeight, GlmFixture.MaxAbsDiff(original, values) / original.Max(Math.Abs));
            tensors[n] = TensorView.FromFloats(n, source.Tensors[n].Shape, values);
        }

        using var dequantized = new DictionarySource(tensors);
        using TransformerModel fake = TransformerModel.Create(dense.Model.Config, dequantized, new DenseLinearProvider(dequantized));
        using TransformerModel quantized = TransformerModel.Create(dense.Model.Config, source, new PackedProvider(source, packed));
        float[] fakeLogits = AllLogits(fake);
        float[] packedLogits = AllLogits(quantized);
        float[] denseLogits = AllLogits(dense.Model);
        double kernelDiff = GlmFixture.MaxAbsDiff(fakeLogits, packedLogits);
        double weightOnlyDiff = GlmFixture.MaxAbsDiff(denseLogits, fakeLogits);

        float[] Block1(TransformerModel m) => GlmFixture.Row(new TextEncoder(m).Encode(s_prompt, new TextEncoderOptions { Layer = 1 }), s_prompt.Length - 1);
        float[] h1Dense = Block1(dense.Model);
        double h1Rel = GlmFixture.MaxAbsDiff(h1Dense, Block1(quantized)) / h1Dense.Max(Math.Abs);
        output.WriteLine($"{name} {scheme}: max weight error {worstWeight:P2} of max |w|; block-1 output max |Δ| {h1Rel:P2} of its max; logits: dense vs dequantized-dense {weightOnlyDiff:F4}, dequantized-dense vs packed kernels {kernelDiff:F4}");
        Assert.True(worstWeight <= (scheme == "int8" ? 1.0 / 254 : 1.0 / 15) * 1.001, $"weight error {worstWeight:P3}");
        Assert.True(h1Rel <= (scheme == "int8" ? 0.08 : 0.8), $"block-1 output error {h1Rel:P2}");
        Assert.True(kernelDiff <= 0.25 * denseLogits.Max(Math.Abs), $"packed kernels vs dequantized weights: {kernelDiff:F4}");
    }

    /// <summary>
    /// Quantizing a fused projection loses nothing against quantizing its slices separately, for every scheme whose
    /// scales live within a row: Q/K/V of query_key_value and gate/up of dense_h_to_4h dequantize and multiply
    /// bit-identically. (Per-tensor ternary and double-quantized NF4/FP4 share statistics across rows, so for them the
    /// fused tensor is one quantization unit, as it is in the checkpoint.)
    /// </summary>
    [Theory]
    [InlineData("int8")]
    [InlineData("int4-g32-asym")]
    [InlineData("int4-g32-sym")]
    [InlineData("nf4")]
    [InlineData("fp4")]
    [InlineData("ternary-row")]
    [InlineData("ternary-g32")]
    public void FusedQuantization_EqualsPerSliceQuantization(string scheme)
    {
        QuantSpec spec = QuantSpec.ParseName(scheme);
        using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(GlmFixture.Path("glm4-tiny"));
        const string p = "transformer.encoder.layers.1.";
        float[] x = Quantization.QuantTestData.Random(3, 64, 11);
        foreach ((string weight, int[] slices) in new[] { (p + "self_attention.query_key_value.weight", new[] { 64, 32, 32 }), (p + "mlp.dense_h_to_4h.weight", new[] { 96, 96 }) })
        {
            TensorView view = source.Tensors[weight];
            float[] all = view.ToFloatArray();
            PackedLinear fused = QuantizedLinear.Quantize(view, spec);
            float[] fusedOut = new float[3 * fused.Rows];
            fused.MatMul(x, 3, fusedOut);
            int start = 0;
            foreach (int rows in slices)
            {
                PackedLinear part = QuantizedLinear.Quantize($"{weight}[{start}:{start + rows}]", all.AsSpan(start * 64, rows * 64), rows, 64, spec);
                float[] a = new float[64], b = new float[64];
                for (int r = 0; r < rows; r++)
                {
                    fused.DequantizeRow(start + r, a);
                    part.DequantizeRow(r, b);
                    Assert.Equal(a, b);
                }

                float[] partOut = new float[3 * rows];
                part.MatMul(x, 3, partOut);
                for (int t = 0; t < 3; t++)
                {
                    Assert.Equal(fusedOut.AsSpan(t * fused.Rows + start, rows).ToArray(), partOut.AsSpan(t * rows, rows).ToArray());
                }

                start += rows;
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void QuantizedFusedModel_SaveReload_BitIdentical(string name, string scheme, double bound)
    {
        _ = bound;
        using var dir = new TempDir();
        using LoadedModel dense = ModelLoader.Load(GlmFixture.Path(name));
        using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(GlmFixture.Path(name));
        Dictionary<string, PackedLinear> packed = QuantizeBlocks(dense.Model, source, QuantSpec.ParseName(scheme));
        string file = dir.File("model.safetensors");
        using (var writer = new SafetensorsWriter(dir.Path))
        {
            foreach ((string tensorName, TensorView view) in source.Tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                if (packed.TryGetValue(tensorName, out PackedLinear? w))
                {
                    QuantizedLinear.Write(writer, tensorName, w);
                }
                else
                {
                    writer.Add(view);
                }
            }

            writer.Commit(file);
        }

        using SafetensorsFile reloaded = SafetensorsFile.Open(file);
        var loadedWeights = new Dictionary<string, PackedLinear>();
        foreach ((string weightName, PackedLinear original) in packed)
        {
            Assert.False(reloaded.Tensors.ContainsKey(weightName));
            Assert.True(QuantizedLinear.IsQuantized(weightName, reloaded.Tensors));
            PackedLinear back = QuantizedLinear.Load(weightName, reloaded.Tensors);
            Assert.Equal((original.Spec, original.Rows, original.Cols), (back.Spec, back.Rows, back.Cols));
            Assert.Equal(original.Packed.Parts.Keys.Order(), back.Packed.Parts.Keys.Order());
            foreach ((string suffix, TensorView part) in original.Packed.Parts)
            {
                Assert.True(part.Bytes.SequenceEqual(back.Packed.Parts[suffix].Bytes), $"{weightName} {suffix} differs after reload");
            }

            loadedWeights[weightName] = back;
        }

        using TransformerModel inMemory = TransformerModel.Create(dense.Model.Config, source, new PackedProvider(source, packed));
        using TransformerModel fromFile = TransformerModel.Create(dense.Model.Config, reloaded, new PackedProvider(reloaded, loadedWeights));
        Assert.Equal(AllLogits(inMemory), AllLogits(fromFile));
        output.WriteLine($"{name} {scheme}: {packed.Count} fused/plain block linears reloaded bit-identically; file {new FileInfo(file).Length} bytes");
    }

    private sealed class DictionarySource(Dictionary<string, TensorView> tensors) : IWeightSource
    {
        public string Location => "(dequantized)";

        public IReadOnlyDictionary<string, TensorView> Tensors => tensors;

        public IReadOnlyDictionary<string, string> Metadata { get; } = new Dictionary<string, string>();

        public void Dispose()
        {
        }
    }

    /// <summary>Packed weights by name, dense views for everything else.</summary>
    private sealed class PackedProvider(IWeightSource source, IReadOnlyDictionary<string, PackedLinear> packed) : ILinearProvider
    {
        public ILinearWeight Get(string tensorName) => packed.TryGetValue(tensorName, out PackedLinear? w) ? w : new DenseLinear(source.Tensors[tensorName]);

        public bool Has(string tensorName) => packed.ContainsKey(tensorName) || source.Tensors.ContainsKey(tensorName);
    }
}
