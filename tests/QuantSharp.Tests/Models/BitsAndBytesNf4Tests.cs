using System.Text;
using System.Text.Json.Nodes;
using QuantSharp.Evaluation;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Models;

/// <summary>A bitsandbytes 4-bit checkpoint (QuantState.as_dict(packed=True) layout), packed by hand from stories260K,
/// loads with the exact weights it encodes and converts to GGUF.</summary>
public class BitsAndBytesNf4Tests
{
    private const int Block = 64, NestedBlock = 256;

    /// <summary>Writes the checkpoint; returns the expected dequantized weight of every linear layer.</summary>
    private static Dictionary<string, float[]> WriteCheckpoint(string folder, bool doubleQuant)
    {
        ReadOnlySpan<float> nf4 = FourBitFloatScheme.Nf4Code;
        var expected = new Dictionary<string, float[]>();
        using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(TestPaths.Stories260K);
        using var w = new SafetensorsWriter(folder);
        foreach ((string name, TensorView view) in source.Tensors)
        {
            bool linear = name.StartsWith("model.layers.") && view.Shape.Length == 2;
            if (!linear)
            {
                w.Add(view);
                continue;
            }

            float[] weights = view.ToFloatArray();
            int n = weights.Length, blocks = (n + Block - 1) / Block;
            float[] absmax = new float[blocks];
            for (int i = 0; i < n; i++)
            {
                absmax[i / Block] = Math.Max(absmax[i / Block], Math.Abs(weights[i]));
            }

            if (doubleQuant)
            {
                // Nested: absmax − offset as 8-bit codes into a 256-entry map, one F32 scale per 256 absmax values.
                float offset = absmax.Average();
                float[] map = Enumerable.Range(0, 256).Select(c => (c - 127) / 127f).ToArray();
                int nested = (blocks + NestedBlock - 1) / NestedBlock;
                float[] nestedAbsmax = new float[nested];
                for (int i = 0; i < blocks; i++)
                {
                    nestedAbsmax[i / NestedBlock] = Math.Max(nestedAbsmax[i / NestedBlock], Math.Abs(absmax[i] - offset));
                }

                byte[] codes = new byte[blocks];
                for (int i = 0; i < blocks; i++)
                {
                    float s = nestedAbsmax[i / NestedBlock];
                    codes[i] = (byte)Math.Clamp(Math.Round((absmax[i] - offset) / s * 127 + 127), 0, 254);
                    absmax[i] = (map[codes[i]] * s) + offset;
                }

                w.Add(name + ".absmax", DType.U8, [blocks], codes);
                w.Add(name + ".nested_absmax", [nested], nestedAbsmax);
                w.Add(name + ".nested_quant_map", [256], map);
                Blob(w, name, $"{{\"quant_type\": \"nf4\", \"blocksize\": {Block}, \"dtype\": \"float32\", \"shape\": [{view.Shape[0]}, {view.Shape[1]}], \"nested_blocksize\": {NestedBlock}, \"nested_dtype\": \"float32\", \"nested_offset\": {offset.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}}}");
            }
            else
            {
                w.Add(name + ".absmax", [blocks], absmax);
                Blob(w, name, $"{{\"quant_type\": \"nf4\", \"blocksize\": {Block}, \"dtype\": \"float32\", \"shape\": [{view.Shape[0]}, {view.Shape[1]}]}}");
            }

            byte[] packed = new byte[(n + 1) / 2];
            float[] dequantized = new float[n];
            for (int i = 0; i < n; i++)
            {
                float x = absmax[i / Block] > 0 ? weights[i] / absmax[i / Block] : 0;
                int best = 0;
                for (int c = 1; c < 16; c++)
                {
                    best = Math.Abs(nf4[c] - x) < Math.Abs(nf4[best] - x) ? c : best;
                }

                // bitsandbytes packs the first of each pair into the high nibble.
                packed[i / 2] |= (byte)((i & 1) == 0 ? best << 4 : best);
                dequantized[i] = nf4[best] * absmax[i / Block];
            }

            w.Add(name, DType.U8, [packed.Length, 1], packed);
            w.Add(name + ".quant_map", [16], nf4);
            expected[name] = dequantized;
        }

        w.Commit(Path.Combine(folder, "model.safetensors"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Stories260K, "config.json")))!.AsObject();
        config["quantization_config"] = new JsonObject
        {
            ["quant_method"] = "bitsandbytes", ["load_in_4bit"] = true, ["load_in_8bit"] = false,
            ["bnb_4bit_quant_type"] = "nf4", ["bnb_4bit_use_double_quant"] = doubleQuant, ["bnb_4bit_compute_dtype"] = "float32",
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        File.Copy(Path.Combine(TestPaths.Stories260K, "tokenizer.model"), Path.Combine(folder, "tokenizer.model"));
        return expected;
    }

    private static void Blob(SafetensorsWriter w, string name, string json)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        w.Add(name + ".quant_state.bitsandbytes__nf4", DType.U8, [bytes.Length], bytes);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LoadsTheEncodedWeightsExactlyAndExportsToGguf(bool doubleQuant)
    {
        using var dir = new TempDir();
        Dictionary<string, float[]> expected = WriteCheckpoint(dir.Path, doubleQuant);
        using LoadedModel bnb = ModelLoader.Load(dir.Path);
        foreach ((string name, ILinearWeight weight) in bnb.Model.BlockLinears())
        {
            // Blocks of 64 lie inside rows of 64 → QuantSharp's NF4 layout; down_proj's rows of 172 straddle blocks → F32.
            Assert.Equal(weight.Cols % 64 == 0 ? "nf4" : "f32", weight.Scheme);
            float[] row = new float[weight.Cols];
            for (int r = 0; r < weight.Rows; r++)
            {
                weight.DequantizeRow(r, row);
                Assert.Equal(expected[name].AsSpan(r * weight.Cols, weight.Cols).ToArray(), row);
            }
        }

        var tok = bnb.RequireTokenizer();
        int[] tokens = tok.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.").ToArray();
        double pplBnb = PerplexityEvaluator.Evaluate(bnb.Model, tokens, tok.BosId!.Value, new PerplexityOptions { Context = tokens.Length + 1 }).Perplexity;

        string gguf = dir.File("bnb.gguf");
        GgufExportReport report = GgufExporter.Export(bnb, gguf, new GgufExportOptions { Type = GgmlType.Q8_0 });
        Assert.Contains(report.Tensors, t => t.Source == "nf4" && t.Action == "requantized");
        using LoadedModel converted = ModelLoader.Load(gguf);
        double pplGguf = PerplexityEvaluator.Evaluate(converted.Model, tokens, tok.BosId!.Value, new PerplexityOptions { Context = tokens.Length + 1 }).Perplexity;
        // Q8_0 of NF4 weights moves them by at most half a Q8_0 step: the perplexity barely changes.
        Assert.InRange(pplGguf / pplBnb, 0.98, 1.02);
        using LoadedModel f32 = ModelLoader.Load(TestPaths.Stories260K);
        double pplF32 = PerplexityEvaluator.Evaluate(f32.Model, tokens, tok.BosId!.Value, new PerplexityOptions { Context = tokens.Length + 1 }).Perplexity;
        Assert.InRange(pplBnb / pplF32, 0.9, 1.25);
    }

    [Fact]
    public void EightBitCheckpointsAreRefusedClearly()
    {
        using var dir = new TempDir();
        File.Copy(Path.Combine(TestPaths.Stories260K, "model.safetensors"), dir.File("model.safetensors"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Stories260K, "config.json")))!.AsObject();
        config["quantization_config"] = new JsonObject { ["quant_method"] = "bitsandbytes", ["load_in_8bit"] = true };
        File.WriteAllText(dir.File("config.json"), config.ToJsonString());
        var e = Assert.Throws<QuantSharpException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains("load_in_8bit", e.Message);
    }
}
