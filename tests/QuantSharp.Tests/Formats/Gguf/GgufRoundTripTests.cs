using QuantSharp.Quantization.Gguf;
using System.Runtime.InteropServices;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Formats.Gguf;

/// <summary>safetensors → GGUF → QuantSharp gives exactly the model the same GGUF quantization gives in memory.</summary>
public class GgufRoundTripTests
{
    private static readonly int[] s_prompt = [1, 403, 385, 260, 300, 271, 290, 416, 302, 278, 317, 261];

    private static float[] Logits(TransformerModel model, int[] tokens)
    {
        using var session = new InferenceSession(model);
        float[] logits = new float[tokens.Length * model.Config.VocabSize];
        session.Forward(tokens, logits);
        return logits;
    }

    [Fact]
    public void F32ExportGivesBitIdenticalLogitsAndRunsFromItsOwnVocabulary()
    {
        using var dir = new TempDir();
        using LoadedModel original = ModelLoader.Load(TestPaths.Stories260K);
        string path = dir.File("s.gguf");
        GgufExportReport report = GgufExporter.Export(original, path, new GgufExportOptions { Type = GgmlType.F32 });
        Assert.All(report.Tensors, t => Assert.Equal("copied", t.Action));
        using LoadedModel gguf = ModelLoader.Load(path);
        Assert.Equal(Logits(original.Model, s_prompt), Logits(gguf.Model, s_prompt));
        Assert.True(gguf.Model.Config.TieWordEmbeddings);
        Assert.Equal(original.Model.Config.NormEps, gguf.Model.Config.NormEps);

        // The vocabulary travels in tokenizer.ggml.*: same ids for text, same BOS/EOS.
        string text = "Once upon a time, there was a  little girl named Lily.\nShe loved cats!";
        Assert.Equal(original.RequireTokenizer().Encode(text), gguf.RequireTokenizer().Encode(text));
        Assert.Equal(original.RequireTokenizer().BosId, gguf.RequireTokenizer().BosId);
        Assert.Equal(original.RequireTokenizer().EosId, gguf.RequireTokenizer().EosId);
        Assert.Equal("Once upon a time", gguf.RequireTokenizer().Decode(original.RequireTokenizer().Encode("Once upon a time")));
    }

    [Fact]
    public void QkRowsArePermutedIntoLlamaCppOrderOnDisk()
    {
        using var dir = new TempDir();
        using LoadedModel original = ModelLoader.Load(TestPaths.Stories260K);
        string path = dir.File("s.gguf");
        GgufExporter.Export(original, path, new GgufExportOptions { Type = GgmlType.F32 });
        using GgufFile f = GgufFile.Open(path);
        float[] onDisk = f.GetTensor("blk.0.attn_k.weight").ToFloatArray();
        ILinearWeight k = original.Model.Blocks[0].K!;
        float[] row = new float[k.Cols];
        int headDim = original.Model.Config.HeadDim;
        // convert_hf_to_gguf.py: w.reshape(heads, 2, d/2, in).swapaxes(1, 2): GGUF row h·d + 2b + a = HF row h·d + a·d/2 + b.
        for (int h = 0; h < k.Rows / headDim; h++)
        {
            for (int a = 0; a < 2; a++)
            {
                for (int b = 0; b < headDim / 2; b++)
                {
                    k.DequantizeRow(h * headDim + a * headDim / 2 + b, row);
                    Assert.Equal(row, onDisk.AsSpan((h * headDim + 2 * b + a) * k.Cols, k.Cols).ToArray());
                }
            }
        }
    }

    public static TheoryData<string, GgmlType> Types => new()
    {
        { "stories260K/hf", GgmlType.F16 },
        { "stories260K/hf", GgmlType.Q8_0 },
        { "stories260K/hf", GgmlType.Q4_0 },
        { "stories260K/hf", GgmlType.Q4_K },
        { "stories260K/hf", GgmlType.Q6_K },
        { "stories260K/hf", GgmlType.TQ2_0 },
        { "stories260K/hf", GgmlType.Q2_0 },
        { "stories260K/hf", GgmlType.IQ4_NL },
        { "brown-llama", GgmlType.Q4_K },
        { "brown-llama", GgmlType.Q6_K },
        { "brown-llama", GgmlType.TQ2_0 },
        { "brown-llama", GgmlType.Q2_0 },
        { "brown-llama", GgmlType.IQ4_NL },
    };

    [Theory]
    [MemberData(nameof(Types))]
    public void QuantizedExportEqualsTheSameQuantizationInMemory(string model, GgmlType type)
    {
        using var dir = new TempDir();
        using LoadedModel original = ModelLoader.Load(TestPaths.Model(model));
        string path = dir.File("m.gguf");
        GgufExportReport report = GgufExporter.Export(original, path, new GgufExportOptions { Type = type });
        GgmlType outer = GgufExportOptions.DefaultOuterType(type);
        using LoadedModel inMemory = ModelLoader.Load(TestPaths.Model(model), new LoadOptions
        {
            LinearProvider = (config, source) => new InMemoryGguf(source, n => n.Contains("embed_tokens") || n.StartsWith("lm_head") ? outer : type),
        });
        using LoadedModel gguf = ModelLoader.Load(path);
        Assert.Equal(Logits(inMemory.Model, s_prompt), Logits(gguf.Model, s_prompt));

        // Fallbacks are per tensor and reported: stories260K's rows of 64 do not take 256-blocks, its down_proj rows of
        // 172 not even 32-blocks.
        foreach (GgufTensorExport t in report.Tensors.Where(t => t.Shape.Length == 2))
        {
            Assert.Equal(GgufExporter.Fit(t.Requested, (int)t.Shape[0]), t.Written);
            Assert.Equal(t.Written != t.Requested, t.Note.Length > 0);
        }

        if (model.StartsWith("stories"))
        {
            Assert.Contains(report.Tensors, t => t.Name == "blk.0.ffn_down.weight" && (type is GgmlType.F16 ? t.Written == GgmlType.F16 : t.Written == GgmlType.F16 && t.Note.Contains("172")));
        }
    }

    [Fact]
    public void Int4G32SymRepacksLosslesslyIntoQ4_0()
    {
        using var dir = new TempDir();
        AssertRepacked(dir, QuantSpec.Int4(32, symmetric: true), GgmlType.Q4_0, v => v);
    }

    [Theory]
    [InlineData(TernaryGranularity.PerRow, 0)]
    [InlineData(TernaryGranularity.PerTensor, 0)]
    [InlineData(TernaryGranularity.PerGroup, 64)]
    [InlineData(TernaryGranularity.PerGroup, 128)]
    public void TernaryRepacksIntoQ2_0_SameCodesAndTheScaleInF16(TernaryGranularity granularity, int groupSize)
    {
        QuantSpec spec = granularity == TernaryGranularity.PerGroup ? QuantSpec.Ternary(granularity, groupSize) : QuantSpec.Ternary(granularity);
        // ±scale or 0: rounding the scale to F16 is the only change.
        using var dir = new TempDir();
        string path = AssertRepacked(dir, spec, GgmlType.Q2_0, v => (float)(Half)v);
        using GgufFile f = GgufFile.Open(path);
        Assert.Equal(41L, f.GetInteger("general.file_type"));
    }

    /// <summary>Exports brown-llama quantized with <paramref name="spec"/> as <paramref name="type"/>: every block linear
    /// is repacked, and each dequantized row of the GGUF equals <paramref name="expected"/> of QuantSharp's. Returns the file.</summary>
    private static string AssertRepacked(TempDir dir, QuantSpec spec, GgmlType type, Func<float, float> expected)
    {
        string path = dir.File("repacked.gguf");
        using LoadedModel quantized = ModelLoader.Load(TestPaths.BrownLlama, new LoadOptions
        {
            LinearProvider = (config, source) => new QuantizingProvider(source, spec),
        });
        GgufExportReport report = GgufExporter.Export(quantized, path, new GgufExportOptions { Type = type, EmbeddingType = GgmlType.F32, OutputType = GgmlType.F32 });
        Assert.All(report.Tensors.Where(t => t.Name.StartsWith("blk.") && t.Shape.Length == 2), t => Assert.Equal("repacked", t.Action));
        using LoadedModel gguf = ModelLoader.Load(path);
        var ours = quantized.Model.BlockLinears().ToList();
        var theirs = gguf.Model.BlockLinears().ToList();
        Assert.Equal(ours.Count, theirs.Count);
        for (int i = 0; i < ours.Count; i++)
        {
            Assert.Equal(spec.Name, ours[i].Weight.Scheme);
            Assert.Equal("gguf-" + GgmlTypeInfo.Name(type), theirs[i].Weight.Scheme);
            float[] a = new float[ours[i].Weight.Cols], b = new float[a.Length];
            for (int r = 0; r < ours[i].Weight.Rows; r++)
            {
                ours[i].Weight.DequantizeRow(r, a);
                theirs[i].Weight.DequantizeRow(r, b);
                Assert.Equal(a.Select(expected).ToArray(), b);
            }
        }

        return path;
    }

    [Fact]
    public void GgufToGgufOfTheSameTypeCopiesEveryTensorByteForByte()
    {
        using var dir = new TempDir();
        using LoadedModel original = ModelLoader.Load(TestPaths.BrownLlama);
        GgufExporter.Export(original, dir.File("a.gguf"), new GgufExportOptions { Type = GgmlType.Q4_K });
        using (LoadedModel a = ModelLoader.Load(dir.File("a.gguf")))
        {
            GgufExportReport again = GgufExporter.Export(a, dir.File("b.gguf"), new GgufExportOptions { Type = GgmlType.Q4_K });
            Assert.All(again.Tensors, t => Assert.Equal("copied", t.Action));
        }

        using GgufFile fa = GgufFile.Open(dir.File("a.gguf")), fb = GgufFile.Open(dir.File("b.gguf"));
        Assert.Equal(fa.TensorsInOrder.Count, fb.TensorsInOrder.Count);
        foreach (GgufTensorInfo t in fa.TensorsInOrder)
        {
            Assert.True(t.Bytes.SequenceEqual(fb.GetTensor(t.Name).Bytes), t.Name);
        }

        Assert.Equal(15L, fa.GetInteger("general.file_type"));
        Assert.Equal(2L, fa.GetInteger("general.quantization_version"));
        Assert.Equal("llama", fa.GetString("tokenizer.ggml.model"));
        Assert.Equal(32u, fa.Alignment);
    }

    [Fact]
    public void NonLlamaGgufIsRefusedWithTheArchitectureNamed()
    {
        using var dir = new TempDir();
        using (var w = new GgufWriter(dir.Path))
        {
            w.Add("general.architecture", "gpt2");
            w.Commit(dir.File("x.gguf"));
        }

        var e = Assert.Throws<GgufException>(() => ModelLoader.Load(dir.File("x.gguf")));
        Assert.Contains("'gpt2' is not supported", e.Message);
    }

    /// <summary>Each weight quantized with <see cref="GgufQuantize"/> in memory (no file), in the type export would pick.</summary>
    private sealed unsafe class InMemoryGguf(QuantSharp.Formats.IWeightSource source, Func<string, GgmlType> typeOf) : ILinearProvider
    {
        public bool Has(string tensorName) => source.Tensors.ContainsKey(tensorName);

        public ILinearWeight Get(string tensorName)
        {
            TensorView v = source.Tensors[tensorName];
            int rows = (int)v.Rows, cols = (int)v.Cols;
            GgmlType type = GgufExporter.Fit(typeOf(tensorName), cols);
            byte[] data = GgufQuantize.Matrix(type, v.ToFloatArray(), rows, cols);
            if (type is GgmlType.F16 or GgmlType.F32)
            {
                return new DenseLinear(TensorView.FromBytes(tensorName, type == GgmlType.F16 ? DType.F16 : DType.F32, [rows, cols], data));
            }

            byte[] pinned = GC.AllocateArray<byte>(data.Length, pinned: true);
            data.CopyTo(pinned);
            s_keepAlive.Add(pinned);
            byte* p = (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0);
            return GgufKernels.HasDirectKernel(type)
                ? new GgufLinear(tensorName, "memory", type, [cols, rows], p)
                : new GgufDequantLinear(tensorName, "memory", type, [cols, rows], p);
        }

        private static readonly System.Collections.Concurrent.ConcurrentBag<byte[]> s_keepAlive = new();
    }

    private sealed class QuantizingProvider(QuantSharp.Formats.IWeightSource source, QuantSpec spec) : ILinearProvider
    {
        public bool Has(string tensorName) => source.Tensors.ContainsKey(tensorName);

        public ILinearWeight Get(string tensorName) => tensorName.StartsWith("model.layers.")
            ? QuantizedLinear.Quantize(source.Tensors[tensorName], spec)
            : new DenseLinear(source.Tensors[tensorName]);
    }
}
