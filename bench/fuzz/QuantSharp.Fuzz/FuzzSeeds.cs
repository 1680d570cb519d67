using QuantSharp.Quantization.Gguf;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Fuzz;

/// <summary>
/// Starting inputs for each target, made from the real files in <c>shared/</c>: small real files as they are, large
/// ones cut down to a few hundred entries (a fuzzer mutates a 5 KB vocabulary thousands of times faster than a 5 MB one),
/// and small checkpoints and GGUF files written by QuantSharp itself with every dtype and tensor type.
/// </summary>
public static class FuzzSeeds
{
    private const int KeptTokens = 300;
    private static readonly Lazy<string> s_shared = new(FindShared);
    private static readonly Lazy<byte[]> s_storiesTokenizer = new(() => File.ReadAllBytes(Path.Combine(Shared, "models", "stories260K", "hf", "tokenizer.model")));
    private static readonly Lazy<byte[]> s_qwen2Config = new(() => File.ReadAllBytes(Path.Combine(Shared, "models", "tokenizers", "qwen2", "tokenizer_config.json")));
    private static string? s_sharedOverride;

    /// <summary>The <c>shared/</c> folder: QUANTSHARP_SHARED, else the first <c>shared</c> beside a folder above the working
    /// directory or the program.</summary>
    public static string Shared
    {
        get => s_sharedOverride ?? s_shared.Value;
        set => s_sharedOverride = value;
    }

    /// <summary>stories260K's SentencePiece model, which the tokenizer-config target pairs its input with.</summary>
    internal static byte[] StoriesTokenizerModel => s_storiesTokenizer.Value;

    internal static IEnumerable<(string, byte[])> Safetensors(string shared)
    {
        yield return ("mixed-dtypes.safetensors", SafetensorsBytes(writer =>
        {
            writer.Metadata["note"] = "fuzz seed";
            writer.Add("f32", DType.F32, [2, 3], Floats(6, DType.F32));
            writer.Add("f16", DType.F16, [4], Floats(4, DType.F16));
            writer.Add("bf16", DType.BF16, [2, 2], Floats(4, DType.BF16));
            writer.Add("i8", DType.I8, [3], [1, 255, 7]);
            writer.Add("u8", DType.U8, [2], [9, 8]);
            writer.Add("i32", DType.I32, [1], [1, 0, 0, 0]);
            writer.Add("empty", DType.F32, [0, 4], []);
        }));
    }

    internal static IEnumerable<(string, byte[])> SafetensorsIndex(string shared)
    {
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = 40 },
            ["weight_map"] = new JsonObject { ["a"] = Shard(1), ["b"] = Shard(2) },
        };
        yield return ("index.json", Encoding.UTF8.GetBytes(index.ToJsonString()));
    }

    /// <summary>A folder holding two one-tensor shards, <c>a</c> and <c>b</c>, for the index target (written once per
    /// process; the target replaces only the index).</summary>
    internal static string ShardedFolder(string name)
    {
        string folder = ScratchFolder.Path(name);
        for (int i = 1; i <= 2; i++)
        {
            string shard = System.IO.Path.Combine(folder, Shard(i));
            if (!File.Exists(shard))
            {
                string tensor = i == 1 ? "a" : "b";
                File.WriteAllBytes(shard, SafetensorsBytes(w => w.Add(tensor, DType.F32, [5], Floats(5, DType.F32))));
            }
        }

        return folder;
    }

    internal static IEnumerable<(string, byte[])> Gguf(string shared)
    {
        string vocab = Path.Combine(shared, "models", "tokenizers", "llama-cpp-vocab");
        foreach (string name in new[] { "ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-bert-bge.gguf" })
        {
            yield return ("tiny-" + name, TinyGguf(Path.Combine(vocab, name)));
        }
    }

    internal static IEnumerable<(string, byte[])> ModelConfigs(string shared)
    {
        foreach (string relative in new[]
        {
            "models/stories260K/hf/config.json", "models/brown-llama/config.json", "models/glm-tiny/chatglm3-tiny/config.json",
            "models/glm-tiny/glm4-tiny/config.json", "models/chatglm3-tokenizer/config.json", "models/tokenizers/glm4/config.json",
            "models/all-MiniLM-L6-v2/config.json",
        })
        {
            yield return (relative.Replace('/', '_'), File.ReadAllBytes(Path.Combine(shared, relative)));
        }

        foreach ((string name, byte[] checkpoint) in Checkpoints(shared))
        {
            yield return (name + ".config.json", checkpoint[..Array.IndexOf(checkpoint, (byte)0)]);
        }
    }

    internal static IEnumerable<(string, byte[])> Checkpoints(string shared)
    {
        string plain = TinyLlama();
        yield return ("tiny-llama-f16", CheckpointInput(plain));
        foreach (string scheme in new[] { "int8", "int4", "nf4", "ternary" })
        {
            string output = Path.Combine(Path.GetDirectoryName(plain)!, "tiny-llama-" + scheme);
            var format = WeightFormat.Parse(scheme, groupSize: scheme == "int4" ? 32 : null);
            QuantizedCheckpointWriter.Write(plain, output, QuantizedCheckpointWriter.Convert(QuantizedCheckpointWriter.DefaultSelector(plain), format),
                new CheckpointWriteOptions { Overwrite = true });
            yield return ("tiny-llama-" + scheme, CheckpointInput(output));
        }
    }

    internal static IEnumerable<(string, byte[])> TokenizerModels(string shared)
    {
        yield return ("stories260K.model", File.ReadAllBytes(Path.Combine(shared, "models", "stories260K", "hf", "tokenizer.model")));
        foreach ((string name, byte[] bytes) in Tiktoken(shared))
        {
            yield return (name, bytes);
        }
    }

    internal static IEnumerable<(string, byte[])> Tiktoken(string shared)
    {
        string[] lines = File.ReadLines(Path.Combine(shared, "models", "tokenizers", "glm4", "tokenizer.model")).Take(KeptTokens).ToArray();
        yield return ("glm4-head.tiktoken", Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
    }

    internal static IEnumerable<(string, byte[])> TokenizerJsons(string shared)
    {
        foreach (string folder in new[] { "gpt2-json", "llama3", "qwen2" })
        {
            string path = Path.Combine(shared, "models", "tokenizers", folder, "tokenizer.json");
            if (File.Exists(path))
            {
                yield return (folder + ".tokenizer.json", TrimTokenizerJson(path));
            }
        }
    }

    /// <summary>Qwen2's tokenizer_config.json, which the vocab-json target pairs its input with.</summary>
    internal static byte[] Qwen2TokenizerConfig => s_qwen2Config.Value;

    internal static IEnumerable<(string, byte[])> VocabJsonAndMerges(string shared)
    {
        string folder = Path.Combine(shared, "models", "tokenizers", "qwen2");
        var vocab = JsonNode.Parse(File.ReadAllBytes(Path.Combine(folder, "vocab.json")))!.AsObject();
        var kept = new JsonObject();
        foreach ((string token, JsonNode? id) in vocab)
        {
            if (id!.GetValue<long>() < KeptTokens)
            {
                kept[token] = id.GetValue<long>();
            }
        }

        string[] merges = [.. File.ReadLines(Path.Combine(folder, "merges.txt"))
            .Where(m => m.Split(' ') is [string a, string b] && kept.ContainsKey(a) && kept.ContainsKey(b) && kept.ContainsKey(a + b))];
        byte[] vocabBytes = Encoding.UTF8.GetBytes(kept.ToJsonString());
        yield return ("qwen2-head", [.. vocabBytes, 0, .. Encoding.UTF8.GetBytes(string.Join('\n', merges) + "\n")]);
        yield return ("qwen2-head-versioned", [.. vocabBytes, 0, .. Encoding.UTF8.GetBytes("#version: 0.2\r\n" + string.Join("\r\n", merges))]);
    }

    internal static IEnumerable<(string, byte[])> VocabTxt(string shared)
    {
        string[] lines = File.ReadLines(Path.Combine(shared, "models", "all-MiniLM-L6-v2", "vocab.txt")).Take(1100).ToArray();
        yield return ("minilm-head.vocab.txt", Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
    }

    internal static IEnumerable<(string, byte[])> TokenizerConfigs(string shared)
    {
        foreach (string path in Directory.EnumerateFiles(Path.Combine(shared, "models"), "tokenizer_config.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (new FileInfo(path).Length <= 64 << 10)
            {
                yield return (Path.GetRelativePath(shared, path).Replace('/', '_'), File.ReadAllBytes(path));
            }
        }

        foreach ((string name, byte[] template) in ChatTemplates(shared))
        {
            var config = new JsonObject { ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["chat_template"] = Encoding.UTF8.GetString(template) };
            yield return (name + ".tokenizer_config.json", Encoding.UTF8.GetBytes(config.ToJsonString()));
        }
    }

    internal static IEnumerable<(string, byte[])> ChatTemplates(string shared) =>
        Directory.EnumerateFiles(Path.Combine(shared, "data", "chat-templates"), "*.jinja").Order(StringComparer.Ordinal)
            .Select(p => (Path.GetFileName(p), File.ReadAllBytes(p)));

    internal static IEnumerable<(string, byte[])> Npy(string shared)
    {
        string folder = ScratchFolder.Fresh("npy-seed");
        string path = Path.Combine(folder, "x.npy");
        NpyFile.Write(path, [2, 3], [1, 2, 3, 4, 5, 6]);
        yield return ("2x3.npy", File.ReadAllBytes(path));
        NpyFile.Write(path, [4], [0.5f, -1, 2, 3]);
        yield return ("4.npy", File.ReadAllBytes(path));
    }

    internal static IEnumerable<(string, byte[])> Plans(string shared)
    {
        string path = Path.Combine(ScratchFolder.Fresh("plan-seed"), "plan.json");
        new QuantPlan(
            [new PlanEntry("model.layers.0.mlp.up_proj", "int4 g128", QuantSpec.ParseName("int4-g128"), 1234, 0.5),
             new PlanEntry("model.layers.0.mlp.down_proj", "int8", QuantSpec.ParseName("int8"), 4321, 2.5)], 10_000).Save(path);
        yield return ("plan.json", File.ReadAllBytes(path));
    }

    internal static IEnumerable<(string, byte[])> ServerRequests(string shared)
    {
        yield return ("chat.json", [0, .. """{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Once"}]}],"max_tokens":4,"temperature":0.7,"top_p":0.9,"seed":1,"stop":["\n"],"stream":true,"stream_options":{"include_usage":true}}"""u8]);
        yield return ("completion.json", [1, .. """{"model":"m","prompt":"Once upon","max_tokens":3,"top_k":5,"ignore_eos":true,"stop":"x"}"""u8]);
        yield return ("completion-ids.json", [1, .. """{"prompt":[1,2,3],"max_tokens":2}"""u8]);
        yield return ("embeddings.json", [2, .. """{"model":"m","input":["Once upon a time","Hi"],"encoding_format":"base64"}"""u8]);
    }

    private static string Shard(int i) => $"model-{i:00000}-of-00002.safetensors";

    private static byte[] SafetensorsBytes(Action<SafetensorsWriter> add)
    {
        string path = Path.Combine(ScratchFolder.Fresh("safetensors-seed"), "x.safetensors");
        using (var writer = new SafetensorsWriter(Path.GetDirectoryName(path)))
        {
            add(writer);
            writer.Commit(path);
        }

        return File.ReadAllBytes(path);
    }

    private static byte[] Floats(int count, DType dtype)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (i - count / 2) * 0.37f;
        }

        return dtype switch
        {
            DType.F32 => [.. System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan())],
            DType.F16 => [.. values.SelectMany(v => BitConverter.GetBytes((Half)v))],
            _ => [.. values.SelectMany(v => BitConverter.GetBytes((ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)))],
        };
    }

    /// <summary>A llama-shaped GGUF with <paramref name="vocabFile"/>'s tokenizer metadata cut to its first tokens, and
    /// one small tensor of every type QuantSharp can quantize.</summary>
    private static byte[] TinyGguf(string vocabFile)
    {
        using GgufFile source = GgufFile.Open(vocabFile);
        using var writer = new GgufWriter(ScratchFolder.Fresh("gguf-seed"));
        HashSet<string> kept = [.. (source.GetValueOrNull("tokenizer.ggml.tokens")?.AsArray<string>() ?? []).Take(KeptTokens)];
        foreach ((string key, GgufValue value) in source.ValuesInOrder)
        {
            if (key is "general.alignment" or "general.architecture" || key.StartsWith("llama.", StringComparison.Ordinal))
            {
                continue;
            }

            writer.Add(key, key == "tokenizer.ggml.merges" ? KeptMerges(value, kept) : Truncated(value));
        }

        writer.Add("general.architecture", "llama");
        writer.Add("llama.embedding_length", 32u);
        writer.Add("llama.feed_forward_length", 64u);
        writer.Add("llama.block_count", 1u);
        writer.Add("llama.attention.head_count", 4u);
        writer.Add("llama.attention.head_count_kv", 2u);
        writer.Add("llama.context_length", 64u);
        writer.Add("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        var values = new float[256 * 2];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = MathF.Sin(i * 0.1f);
        }

        foreach (GgmlType type in Enum.GetValues<GgmlType>().Where(t => GgmlTypeInfo.CanQuantize(t)))
        {
            writer.AddTensor("t." + GgmlTypeInfo.Name(type), type, [256, 2], GgufQuantize.Matrix(type, values, 2, 256));
        }

        return writer.ToArray();
    }

    private static GgufValue KeptMerges(GgufValue merges, HashSet<string> kept) => GgufValue.Array(
        [.. (merges.AsArray<string>() ?? []).Where(m => m.Split(' ') is [string a, string b] && kept.Contains(a) && kept.Contains(b) && kept.Contains(a + b))]);

    private static GgufValue Truncated(GgufValue value)
    {
        if (value.Type != GgufValueType.Array || value.ArrayLength <= KeptTokens)
        {
            return value;
        }

        return value.ElementType switch
        {
            GgufValueType.String => GgufValue.Array(value.AsArray<string>()![..KeptTokens]),
            GgufValueType.Float32 => GgufValue.Array(value.AsArray<float>()![..KeptTokens]),
            GgufValueType.Int32 => GgufValue.Array(value.AsArray<int>()![..KeptTokens]),
            GgufValueType.UInt32 => GgufValue.Array(value.AsArray<uint>()![..KeptTokens]),
            _ => value,
        };
    }

    private static string TinyLlama()
    {
        string folder = ScratchFolder.Fresh("tiny-llama");
        string plain = Path.Combine(folder, "tiny-llama-f16");
        Directory.CreateDirectory(plain);
        const int Hidden = 32, Inter = 64, Vocab = 64, Kv = 16;
        var rng = new Random(7);
        byte[] Weights(int rows, int cols) => [.. Enumerable.Range(0, rows * cols).SelectMany(_ => BitConverter.GetBytes((Half)(rng.NextSingle() * 0.2f - 0.1f)))];
        byte[] Ones(int n) => [.. Enumerable.Repeat(BitConverter.GetBytes((Half)1), n).SelectMany(b => b)];
        using (var writer = new SafetensorsWriter(folder))
        {
            writer.Add("model.embed_tokens.weight", DType.F16, [Vocab, Hidden], Weights(Vocab, Hidden));
            writer.Add("model.norm.weight", DType.F16, [Hidden], Ones(Hidden));
            writer.Add("lm_head.weight", DType.F16, [Vocab, Hidden], Weights(Vocab, Hidden));
            const string L = "model.layers.0.";
            writer.Add(L + "input_layernorm.weight", DType.F16, [Hidden], Ones(Hidden));
            writer.Add(L + "post_attention_layernorm.weight", DType.F16, [Hidden], Ones(Hidden));
            writer.Add(L + "self_attn.q_proj.weight", DType.F16, [Hidden, Hidden], Weights(Hidden, Hidden));
            writer.Add(L + "self_attn.k_proj.weight", DType.F16, [Kv, Hidden], Weights(Kv, Hidden));
            writer.Add(L + "self_attn.v_proj.weight", DType.F16, [Kv, Hidden], Weights(Kv, Hidden));
            writer.Add(L + "self_attn.o_proj.weight", DType.F16, [Hidden, Hidden], Weights(Hidden, Hidden));
            writer.Add(L + "mlp.gate_proj.weight", DType.F16, [Inter, Hidden], Weights(Inter, Hidden));
            writer.Add(L + "mlp.up_proj.weight", DType.F16, [Inter, Hidden], Weights(Inter, Hidden));
            writer.Add(L + "mlp.down_proj.weight", DType.F16, [Hidden, Inter], Weights(Hidden, Inter));
            writer.Commit(Path.Combine(plain, "model.safetensors"));
        }

        File.WriteAllText(Path.Combine(plain, "config.json"), $$"""
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": {{Hidden}}, "intermediate_size": {{Inter}},
             "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": {{Vocab}},
             "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
             "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"}
            """);
        return plain;
    }

    private static byte[] CheckpointInput(string folder) =>
        [.. File.ReadAllBytes(Path.Combine(folder, "config.json")), 0, .. File.ReadAllBytes(Path.Combine(folder, "model.safetensors"))];

    private static byte[] TrimTokenizerJson(string path)
    {
        JsonNode root = JsonNode.Parse(File.ReadAllBytes(path), documentOptions: new JsonDocumentOptions { MaxDepth = 256 })!;
        if (root["model"] is JsonObject model && model["vocab"] is JsonObject vocab)
        {
            var kept = new HashSet<string>(StringComparer.Ordinal);
            foreach ((string token, JsonNode? id) in vocab.ToList())
            {
                if (id is JsonValue v && v.TryGetValue(out long n) && n < KeptTokens)
                {
                    kept.Add(token);
                }
                else
                {
                    vocab.Remove(token);
                }
            }

            if (model["merges"] is JsonArray merges)
            {
                var keptMerges = new JsonArray();
                foreach (JsonNode? merge in merges)
                {
                    string[] parts = merge is JsonArray pair ? [.. pair.Select(p => p?.GetValue<string>() ?? "")] : (merge?.GetValue<string>() ?? "").Split(' ', 2);
                    if (parts.Length == 2 && kept.Contains(parts[0]) && kept.Contains(parts[1]) && kept.Contains(parts[0] + parts[1]))
                    {
                        keptMerges.Add(merge!.DeepClone());
                    }
                }

                model["merges"] = keptMerges;
            }
        }

        if (root["added_tokens"] is JsonArray added && added.Count > 32)
        {
            root["added_tokens"] = new JsonArray([.. added.Take(32).Select(a => a!.DeepClone())]);
        }

        return Encoding.UTF8.GetBytes(root.ToJsonString());
    }

    private static string FindShared()
    {
        if (Environment.GetEnvironmentVariable("QUANTSHARP_SHARED") is { Length: > 0 } fromEnvironment)
        {
            return fromEnvironment;
        }

        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "shared");
                if (Directory.Exists(Path.Combine(candidate, "models")))
                {
                    return candidate;
                }
            }
        }

        throw new DirectoryNotFoundException("shared/ (models and data) not found above the working directory; set QUANTSHARP_SHARED");
    }
}
