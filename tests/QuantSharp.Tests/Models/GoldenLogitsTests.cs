using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Calibration;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Models;

/// <summary>
/// Pins the logits of every weight format bit for bit, so a refactor of the kernels, drivers or loaders can show it
/// changed nothing. Each case loads brown-llama or stories260K with every linear in one format, prefills 20 tokens
/// (all logits: the multi-token kernels) and decodes 4 greedy tokens (the single-token kernels); the SHA-256 of all
/// those logits must equal the one recorded in <c>golden-logits.json</c> for this instruction-set path (AVX-512 and
/// AVX2 sum in different orders, so each path has its own record; a path with no record is skipped).
/// Record with <c>QUANTSHARP_RECORD_GOLDEN=1 dotnet test --filter GoldenLogits</c> (and again with
/// <c>DOTNET_EnableAVXVNNI=0</c> for the AVX-512 machines without AVX-VNNI, whose int8 prefill takes another path, and
/// <c>DOTNET_EnableAVX512=0 DOTNET_EnableAVXVNNI=0</c> for the AVX2 record) — only when a change is meant to alter numbers.
/// </summary>
public sealed class GoldenLogitsTests
{
    private const int PromptTokens = 20;
    private const int DecodeTokens = 4;
    private static readonly object s_recordLock = new();

    /// <summary>The instruction-set path the kernels take here (the key of the record).</summary>
    private static string IsaKey => (KernelIsa.UseAvx512 ? "avx512" : KernelIsa.UseAvx2 ? "avx2" : "scalar") + (AvxVnni.IsSupported ? "+avxvnni" : "");

    private static string GoldenPath => Path.Combine(TestPaths.RepositoryRoot, "tests", "QuantSharp.Tests", "Models", "golden-logits.json");

    /// <summary>Every format a model's linears can be held in, with the models whose shapes it fits.</summary>
    public static TheoryData<string, string> Cases()
    {
        string[] ours =
        [
            "f32", "f16", "bf16",
            "int8", "int4-g32-sym", "int4-g64-asym", "int4-g128-sym", "int4-g128-asym", "int3-g128-asym", "int2-g64-asym",
            "nf4", "nf4-dq", "fp4", "ternary-tensor", "ternary-row", "ternary-g64",
        ];
        string[] blocks256 = ["iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "q8_0", "q4_0", "q4_k", "q6_k", "tq2_0", "q2_0", "iq4_nl"];
        string[] files = ["gguf-file:q5_k", "gguf-file:q4_1", "gguf-file:iq2_xs", "hf:gptq", "hf:awq"];
        var data = new TheoryData<string, string>();
        foreach (string f in ours)
        {
            data.Add("stories260K", f);
            data.Add("brown-llama", f);
        }

        foreach (string f in blocks256.Concat(files))
        {
            data.Add("brown-llama", f);
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Logits_AreBitIdenticalToTheRecord(string model, string format)
    {
        string key = $"{model}/{format}";
        (string hash, int[] generated) = Run(model, format);
        string actual = $"{hash} {string.Join(',', generated)}";
        if (Environment.GetEnvironmentVariable("QUANTSHARP_RECORD_GOLDEN") == "1")
        {
            Record(key, actual);
            return;
        }

        JsonNode? record = File.Exists(GoldenPath) ? JsonNode.Parse(File.ReadAllText(GoldenPath))?[IsaKey] : null;
        Skip.If(record is null, $"no golden logits recorded for the {IsaKey} path");
        string? expected = record![key]?.GetValue<string>();
        Assert.True(expected is not null, $"{key}: no golden logits recorded for the {IsaKey} path (record them)");
        Assert.Equal(expected, actual);
    }

    private static void Record(string key, string value)
    {
        lock (s_recordLock)
        {
            JsonObject root = File.Exists(GoldenPath) ? JsonNode.Parse(File.ReadAllText(GoldenPath))!.AsObject() : [];
            if (root[IsaKey] is not JsonObject isa)
            {
                isa = [];
                root[IsaKey] = isa;
            }

            isa[key] = value;
            var sorted = new JsonObject();
            foreach (KeyValuePair<string, JsonNode?> path in root.OrderBy(p => p.Key, StringComparer.Ordinal).ToList())
            {
                var entries = new JsonObject();
                foreach (KeyValuePair<string, JsonNode?> e in path.Value!.AsObject().OrderBy(p => p.Key, StringComparer.Ordinal).ToList())
                {
                    entries[e.Key] = e.Value!.GetValue<string>();
                }

                sorted[path.Key] = entries;
            }

            File.WriteAllText(GoldenPath, sorted.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
        }
    }

    /// <summary>SHA-256 (first 16 bytes, hex) of the prefill logits of every prompt token and the decode logits, and the greedy tokens.</summary>
    private static (string Hash, int[] Generated) Run(string model, string format)
    {
        using var dir = new TempDir();
        using LoadedModel loaded = Load(model, format, dir.Path);
        int vocab = loaded.Model.Config.VocabSize;
        int[] prompt = new int[PromptTokens];
        var rng = new Random(20261207);
        prompt[0] = 1;
        for (int i = 1; i < prompt.Length; i++)
        {
            prompt[i] = 3 + rng.Next(vocab - 3);
        }

        using var session = new InferenceSession(loaded.Model);
        float[] all = new float[(PromptTokens + DecodeTokens) * vocab];
        session.Forward(prompt, all.AsSpan(0, PromptTokens * vocab));
        int[] generated = new int[DecodeTokens];
        for (int t = 0; t < DecodeTokens; t++)
        {
            Span<float> previous = all.AsSpan((PromptTokens - 1 + t) * vocab, vocab);
            generated[t] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(previous);
            session.Forward([generated[t]], all.AsSpan((PromptTokens + t) * vocab, vocab));
        }

        byte[] digest = SHA256.HashData(MemoryMarshal.AsBytes(all.AsSpan()));
        return (Convert.ToHexString(digest, 0, 16).ToLowerInvariant(), generated);
    }

    private static LoadedModel Load(string model, string format, string scratch)
    {
        string folder = model == "stories260K" ? TestPaths.Stories260K : TestPaths.BrownLlama;
        if (format.StartsWith("gguf-file:", StringComparison.Ordinal))
        {
            Assert.True(GgmlTypeInfo.TryParse(format["gguf-file:".Length..], out GgmlType type));
            string gguf = Path.Combine(scratch, "model.gguf");
            using (LoadedModel source = ModelLoader.Load(folder))
            {
                GgufExporter.Export(source, gguf, new GgufExportOptions { Type = type });
            }

            return ModelLoader.Load(gguf);
        }

        if (format.StartsWith("hf:", StringComparison.Ordinal))
        {
            string outDir = Path.Combine(scratch, "hf");
            using (LoadedModel source = ModelLoader.Load(folder))
            {
                TransformerModel q = CalibratedQuantization.QuantizeRtn(source.Model, _ => QuantSpec.Int4(128));
                HfQuantizedCheckpoint.Save(q, folder, outDir, format == "hf:gptq" ? HfQuantLayout.Gptq : HfQuantLayout.AwqGemm);
            }

            return ModelLoader.Load(outDir);
        }

        return ModelLoader.Load(folder, new LoadOptions { LinearProvider = (config, source) => new SchemeLinearProvider(config, source, format) });
    }
}
