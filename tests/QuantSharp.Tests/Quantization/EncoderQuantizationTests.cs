using QuantSharp.Calibration;
using QuantSharp.Evaluation;
using QuantSharp.Models;
using QuantSharp.Quantization;
using QuantSharp.Tests.Models;

namespace QuantSharp.Tests.Quantization;

/// <summary>
/// Quantization of a real pretrained encoder (all-MiniLM-L6-v2, strong weight outliers): int8 keeps the embeddings,
/// and the calibrated methods must beat round-to-nearest where it hurts (int4 and int3 with groups of 128).
/// </summary>
public sealed class EncoderQuantizationTests : IClassFixture<EncoderQuantizationTests.Setup>
{
    private readonly Setup _s;

    public EncoderQuantizationTests(Setup setup) => _s = setup;

    /// <summary>The model, 200 wikitext test lines and calibration data from wikitext valid, shared by the tests.</summary>
    public sealed class Setup : IDisposable
    {
        public Setup()
        {
            Loaded = ModelLoader.Load(MiniLmReference.Folder);
            Reference = SentenceEncoder.Create(Loaded);
            string test = TestPaths.Data("wikitext-2-raw/wiki.test.raw");
            Texts = [.. File.ReadLines(test).Select(l => l.Trim()).Where(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length > 5).Distinct().Take(300)];
            Ids = [.. Texts.Select(Reference.Tokenize)];
            ReferenceEmbeddings = Reference.EmbedIds(Ids);
            Calibration = CalibrationData.FromText(Loaded.RequireTokenizer(), File.ReadAllText(TestPaths.Data("wikitext-2-tokens/valid.txt")), 64, 128, 1234, "valid.txt", encoder: true);
        }

        public LoadedModel Loaded { get; }

        public SentenceEncoder Reference { get; }

        public List<string> Texts { get; }

        public List<int[]> Ids { get; }

        public CalibrationData Calibration { get; }

        public float[][] ReferenceEmbeddings { get; }

        /// <summary>The whole comparison (per-layer errors too); runs the reference again.</summary>
        public EncoderFidelityResult Fidelity(TransformerModel quantized)
        {
            using var candidate = new SentenceEncoder(quantized, Loaded.Tokenizer, Reference.Pooling);
            return EncoderFidelity.Compare(Reference, candidate, Ids);
        }

        /// <summary>Mean embedding cosine and recall@10 against the cached reference embeddings.</summary>
        public (double Cosine, double Recall) Quick(TransformerModel quantized)
        {
            using var candidate = new SentenceEncoder(quantized, Loaded.Tokenizer, Reference.Pooling);
            float[][] e = candidate.EmbedIds(Ids);
            double cosine = e.Select((v, i) => (double)System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(v, ReferenceEmbeddings[i])).Average();
            return (cosine, EncoderFidelity.RecallAtK(ReferenceEmbeddings, e, EncoderFidelity.Neighbours));
        }

        public void Dispose()
        {
            Reference.Dispose();
            Loaded.Dispose();
        }
    }

    [Fact]
    public void CalibrationWindowsAreWrappedInClsAndSep()
    {
        Assert.All(_s.Calibration.Sequences, s =>
        {
            Assert.Equal(128, s.Length);
            Assert.Equal(101, s[0]);
            Assert.Equal(102, s[^1]);
        });
        CalibrationData unigram = CalibrationData.Unigram(_s.Loaded.RequireTokenizer(), 4, 32, 7);
        Assert.All(unigram.Sequences, s =>
        {
            Assert.Equal(101, s[0]);
            Assert.Equal(102, s[^1]);
            Assert.All(s[1..^1], id => Assert.True(id >= 999, $"drew special or unused token {id}"));
        });
    }

    [Fact]
    public void Int8KeepsEmbeddingCosineAbove0999()
    {
        TransformerModel int8 = CalibratedQuantization.QuantizeRtn(_s.Loaded.Model, _ => QuantSpec.Int8());
        EncoderFidelityResult r = _s.Fidelity(int8);
        Assert.True(r.CosineMean >= 0.999, $"int8 mean cosine {r.CosineMean:F5}");
        Assert.True(r.RecallAt10 >= 0.95, $"int8 recall@10 {r.RecallAt10:F4}");
        Assert.Equal(0, r.LayerRelativeError[0]); // the embedding stage is not quantized
    }

    [Theory]
    [InlineData(4)]
    [InlineData(3)]
    public void GptqAndAwqBeatRoundToNearestOnCosineAndRecall(int bits)
    {
        QuantSpec spec = bits == 4 ? QuantSpec.Int4(128) : QuantSpec.Int3(128);
        var rtn = _s.Quick(CalibratedQuantization.QuantizeRtn(_s.Loaded.Model, _ => spec));
        var gptq = _s.Quick(CalibratedQuantization.Run(_s.Loaded.Model, _s.Calibration, spec, QuantMethod.Gptq).Model);
        var awq = _s.Quick(CalibratedQuantization.Run(_s.Loaded.Model, _s.Calibration, spec, QuantMethod.Awq).Model);
        string figures = $"{spec.Name}: cosine rtn {rtn.Cosine:F4} gptq {gptq.Cosine:F4} awq {awq.Cosine:F4}; recall@10 rtn {rtn.Recall:F3} gptq {gptq.Recall:F3} awq {awq.Recall:F3}";
        Assert.True(gptq.Cosine > rtn.Cosine && gptq.Recall > rtn.Recall, figures);
        Assert.True(awq.Cosine > rtn.Cosine && awq.Recall > rtn.Recall, figures);
    }

    [Fact]
    public void AwqFoldsTheValueScalesIntoValueWeightAndBiasWithoutChangingTheModel()
    {
        // Scale-only AWQ keeps the weights dense: the model's function must not change (V rows and V bias divided,
        // O columns multiplied); the post-norm groups record why they are not scaled.
        CalibratedResult r = CalibratedQuantization.Run(_s.Loaded.Model, _s.Calibration, QuantSpec.Int4(128), QuantMethod.Awq, new CalibrationOptions { AwqScaleOnly = true });
        var f = _s.Quick(r.Model);
        Assert.True(f.Cosine > 0.99999, $"mean cosine {f.Cosine:F7}");
        Assert.Contains("encoder.layer.0.attention.self.value.bias", r.ReplacedTensors.Keys);
        Assert.Contains(r.Layers, l => l.Name.EndsWith("attention.output.dense.weight", StringComparison.Ordinal) && l.Note.StartsWith("awq", StringComparison.Ordinal));
        Assert.Contains(r.Layers, l => l.Name.EndsWith("output.dense.weight", StringComparison.Ordinal) && !l.Name.Contains("attention", StringComparison.Ordinal) && l.Note.Contains("GELU", StringComparison.Ordinal));
    }
}
