using QuantSharp.Tokenizers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Formats;
using QuantSharp.Tensors;

namespace QuantSharp.Models;

/// <summary>
/// Writes a checkpoint folder with a real model's exact shapes and random weights (≈ N(0, 0.02), norms 1): from a
/// preset Llama shape (<see cref="Write"/>), or from any decoder's real <c>config.json</c> with its own tensor names,
/// sharded like a Hugging Face upload (<see cref="WriteFromConfig"/>). Fit for speed and memory measurements only — the
/// model says nothing sensible.
/// </summary>
public static class SyntheticCheckpoint
{
    /// <summary>Standard deviation of the random weights (Llama's initializer range).</summary>
    public const float WeightStd = 0.02f;

    /// <summary>The tensors of <paramref name="shape"/> in Hugging Face Llama naming.</summary>
    public static IReadOnlyList<RandomTensorSpec> Tensors(SyntheticModelShape shape)
    {
        long d = shape.HiddenSize, f = shape.IntermediateSize, hd = shape.HiddenSize / shape.Heads;
        long q = shape.Heads * hd, kv = shape.KvHeads * hd;
        var list = new List<RandomTensorSpec> { new("model.embed_tokens.weight", [shape.VocabSize, d]) };
        for (int i = 0; i < shape.Layers; i++)
        {
            string p = $"model.layers.{i}.";
            list.Add(new(p + "input_layernorm.weight", [d], 1f));
            list.Add(new(p + "self_attn.q_proj.weight", [q, d]));
            list.Add(new(p + "self_attn.k_proj.weight", [kv, d]));
            list.Add(new(p + "self_attn.v_proj.weight", [kv, d]));
            list.Add(new(p + "self_attn.o_proj.weight", [d, q]));
            list.Add(new(p + "post_attention_layernorm.weight", [d], 1f));
            list.Add(new(p + "mlp.gate_proj.weight", [f, d]));
            list.Add(new(p + "mlp.up_proj.weight", [f, d]));
            list.Add(new(p + "mlp.down_proj.weight", [d, f]));
        }

        list.Add(new("model.norm.weight", [d], 1f));
        if (!shape.TieWordEmbeddings)
        {
            list.Add(new("lm_head.weight", [shape.VocabSize, d]));
        }

        return list;
    }

    /// <summary>Shard size of Hugging Face uploads (<c>max_shard_size="5GB"</c> in transformers' save_pretrained, 5·10⁹ bytes).</summary>
    public const long DefaultShardBytes = 5_000_000_000;

    /// <summary>
    /// The tensors a checkpoint of <paramref name="config"/> holds, named as <paramref name="spec"/> names them
    /// (Llama-family <c>model.layers.N.…</c>, GLM <c>transformer.encoder.layers.N.…</c> with fused query_key_value and
    /// dense_h_to_4h): embedding, per block the norms (1), linear weights (random, with outlier input columns) and
    /// q/k/v biases where the config has them, final norm, and the LM head unless tied.
    /// </summary>
    /// <exception cref="QuantSharpException">An encoder config (this writes decoders).</exception>
    public static IReadOnlyList<RandomTensorSpec> Tensors(ModelConfig config, ArchitectureSpec spec)
    {
        if (spec.IsEncoder)
        {
            throw new QuantSharpException($"{config.Architecture}: synthetic checkpoints from a config are written for decoders (Llama-family, GLM), not encoders");
        }

        long d = config.HiddenSize, f = config.IntermediateSize, q = (long)config.Heads * config.HeadDim, kv = (long)config.KvHeads * config.HeadDim;
        var list = new List<RandomTensorSpec> { new(spec.Embedding, [config.VocabSize, d]) };
        void Linear(string name, long rows, long cols, bool bias)
        {
            list.Add(new(name, [rows, cols], Outliers: true));
            if (bias)
            {
                list.Add(new(ArchitectureSpec.BiasOf(name), [rows]));
            }
        }

        void Norm(string name)
        {
            list.Add(new(name, [d], 1f));
            if (spec.Norm == NormKind.Layer)
            {
                list.Add(new(ArchitectureSpec.BiasOf(name), [d], 0f));
            }
        }

        for (int i = 0; i < config.Layers; i++)
        {
            string p = spec.LayerPrefix(i);
            Norm(p + spec.AttnNorm);
            if (spec.Qkv is not null)
            {
                Linear(p + spec.Qkv, q + (2 * kv), d, spec.QkvBias || spec.LinearBias);
            }
            else
            {
                Linear(p + spec.Q, q, d, spec.QkvBias || spec.LinearBias);
                Linear(p + spec.K, kv, d, spec.QkvBias || spec.LinearBias);
                Linear(p + spec.V, kv, d, spec.QkvBias || spec.LinearBias);
            }

            Linear(p + spec.O, d, q, spec.LinearBias);
            Norm(p + spec.MlpNorm);
            if (spec.GateUp is not null)
            {
                Linear(p + spec.GateUp, 2 * f, d, spec.LinearBias);
            }
            else
            {
                if (spec.Mlp == MlpKind.SwiGlu)
                {
                    Linear(p + spec.Gate, f, d, spec.LinearBias);
                }

                Linear(p + spec.Up, f, d, spec.LinearBias);
            }

            Linear(p + spec.Down, d, f, spec.LinearBias);
        }

        if (spec.FinalNorm is not null)
        {
            Norm(spec.FinalNorm);
        }

        if (spec.LmHead is not null && !config.TieWordEmbeddings)
        {
            list.Add(new(spec.LmHead, [config.VocabSize, d]));
        }

        return list;
    }

    /// <summary><paramref name="configJson"/> as the synthetic checkpoint's config.json: the layer count replaced by
    /// <paramref name="layers"/> when given (every key a config spells it with), <c>torch_dtype</c> set, and a note that the
    /// weights are random.</summary>
    /// <exception cref="QuantSharpException">The JSON is not an object, or <paramref name="layers"/> exceeds the config's.</exception>
    public static string ConfigJson(string configJson, int? layers, DType dtype)
    {
        JsonObject root = JsonNode.Parse(configJson) as JsonObject ?? throw new QuantSharpException("config.json: not a JSON object");
        if (layers is int n)
        {
            bool any = false;
            foreach (string key in new[] { "num_hidden_layers", "num_layers", "n_layer" })
            {
                if (root[key] is JsonValue value && value.TryGetValue(out int existing))
                {
                    if (n < 1 || n > existing)
                    {
                        throw new QuantSharpException($"config.json: --layers {n} must be between 1 and the config's {existing}");
                    }

                    root[key] = n;
                    any = true;
                }
            }

            if (!any)
            {
                throw new QuantSharpException("config.json: no num_hidden_layers / num_layers field to change");
            }
        }

        root["torch_dtype"] = dtype switch { DType.F16 => "float16", DType.BF16 => "bfloat16", _ => "float32" };
        root["_quantsharp_synthetic"] = "random weights with this config's exact shapes and names; for speed and memory measurements only";
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>
    /// Writes a checkpoint folder for <paramref name="configJson"/> (a real model's config.json): the config, the tensors
    /// of <see cref="Tensors(ModelConfig, ArchitectureSpec)"/> in shards of at most <paramref name="shardBytes"/>
    /// (<c>model-0000N-of-0000M.safetensors</c> plus <c>model.safetensors.index.json</c>, or one <c>model.safetensors</c>
    /// when everything fits in one shard), and the tokenizer files of <paramref name="tokenizerFolder"/>. The folder
    /// appears whole or not at all (written in a temporary sibling, then renamed); an existing non-empty folder is replaced
    /// only with <paramref name="overwrite"/>.
    /// </summary>
    /// <returns>The tensors written and the shard files, in order.</returns>
    /// <exception cref="QuantSharpException">An unsupported or encoder config, or a bad layer count.</exception>
    public static (IReadOnlyList<RandomTensorSpec> Tensors, IReadOnlyList<string> Shards) WriteFromConfig(
        string configJson, int? layers, string directory, DType dtype, ulong seed, string? tokenizerFolder, long shardBytes = DefaultShardBytes, Action<long, long>? progress = null, bool overwrite = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardBytes, 1);
        string json = ConfigJson(configJson, layers, dtype);
        ModelConfig config = ModelConfig.Parse(json, "config.json");
        IReadOnlyList<RandomTensorSpec> tensors = Tensors(config, ArchitectureSpec.For(config));
        int size = DTypeInfo.SizeOf(dtype);
        var shards = new List<List<RandomTensorSpec>> { new() };
        long inShard = 0;
        foreach (RandomTensorSpec t in tensors)
        {
            long bytes = t.ElementCount * size;
            if (inShard > 0 && inShard + bytes > shardBytes)
            {
                shards.Add([]);
                inShard = 0;
            }

            shards[^1].Add(t);
            inShard += bytes;
        }

        long total = tensors.Sum(t => t.ElementCount * size), before = 0;
        string[] names = shards.Count == 1 ? ["model.safetensors"]
            : [.. Enumerable.Range(1, shards.Count).Select(i => $"model-{i:D5}-of-{shards.Count:D5}.safetensors")];
        using AtomicFolder folder = AtomicFolder.Begin(directory, overwrite);
        for (int i = 0; i < shards.Count; i++)
        {
            long offset = before;
            RandomSafetensorsWriter.Write(folder.File(names[i]), shards[i], dtype, seed + ((ulong)i * 0x9E3779B97F4A7C15UL), WeightStd, progress is null ? null : (done, _) => progress(offset + done, total));
            before += shards[i].Sum(t => t.ElementCount * size);
        }

        if (shards.Count > 1)
        {
            var map = new JsonObject();
            for (int i = 0; i < shards.Count; i++)
            {
                foreach (RandomTensorSpec t in shards[i])
                {
                    map[t.Name] = names[i];
                }
            }

            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = map };
            File.WriteAllText(folder.File("model.safetensors.index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }

        File.WriteAllText(folder.File("config.json"), json);
        if (tokenizerFolder is not null)
        {
            foreach (string file in Directory.EnumerateFiles(tokenizerFolder).Where(IsTokenizerFile))
            {
                File.Copy(file, folder.File(Path.GetFileName(file)));
            }
        }

        folder.Commit();
        return (tensors, names);
    }

    /// <summary>Files a tokenizer folder contributes (what transformers' tokenizer classes read, and chat templates).</summary>
    private static bool IsTokenizerFile(string path)
    {
        string name = Path.GetFileName(path);
        return name is "tokenizer.model" or "tokenizer.json" or "tokenizer_config.json" or "special_tokens_map.json" or "vocab.json"
            or "merges.txt" or "vocab.txt" or "added_tokens.json" or "generation_config.json" or "chat_template.jinja"
            || name.EndsWith(".tiktoken", StringComparison.Ordinal);
    }

    /// <summary>Writes the folder <paramref name="directory"/> atomically; an existing non-empty one is replaced only with
    /// <paramref name="overwrite"/>.</summary>
    /// <param name="shape">The model's shapes.</param>
    /// <param name="directory">Output folder.</param>
    /// <param name="dtype">F32, F16 or BF16.</param>
    /// <param name="seed">Random seed; the same seed gives the same bytes.</param>
    /// <param name="tokenizerModel">A SentencePiece <c>tokenizer.model</c> to copy in; used only when its vocabulary
    /// size is the shape's (the caller checks); null writes no tokenizer.</param>
    /// <param name="progress">Called with (bytes done, bytes total).</param>
    /// <param name="overwrite">Replace <paramref name="directory"/> if it exists and is not empty.</param>
    public static void Write(SyntheticModelShape shape, string directory, DType dtype, ulong seed, string? tokenizerModel, Action<long, long>? progress = null, bool overwrite = false)
    {
        using AtomicFolder folder = AtomicFolder.Begin(directory, overwrite);
        RandomSafetensorsWriter.Write(folder.File("model.safetensors"), Tensors(shape), dtype, seed, WeightStd, progress);
        AtomicFile.WriteAllText(folder.File("config.json"), Config(shape, dtype));
        if (tokenizerModel is not null)
        {
            AtomicFile.Copy(tokenizerModel, folder.File("tokenizer.model"));
            AtomicFile.WriteAllText(folder.File("tokenizer_config.json"), "{\"add_bos_token\": true, \"add_eos_token\": false}\n");
        }

        folder.Commit();
    }

    /// <summary>The config.json text for <paramref name="shape"/>.</summary>
    public static string Config(SyntheticModelShape shape, DType dtype)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("architectures");
            json.WriteStringValue("LlamaForCausalLM");
            json.WriteEndArray();
            json.WriteString("model_type", "llama");
            json.WriteString("_quantsharp_synthetic", $"random weights shaped like {shape.Name}; for speed measurements only");
            json.WriteNumber("hidden_size", shape.HiddenSize);
            json.WriteNumber("intermediate_size", shape.IntermediateSize);
            json.WriteNumber("num_hidden_layers", shape.Layers);
            json.WriteNumber("num_attention_heads", shape.Heads);
            json.WriteNumber("num_key_value_heads", shape.KvHeads);
            json.WriteNumber("vocab_size", shape.VocabSize);
            json.WriteNumber("max_position_embeddings", shape.MaxPositions);
            json.WriteNumber("rms_norm_eps", 1e-5);
            json.WriteNumber("rope_theta", shape.RopeTheta);
            json.WriteString("hidden_act", "silu");
            json.WriteBoolean("tie_word_embeddings", shape.TieWordEmbeddings);
            json.WriteNumber("bos_token_id", 1);
            json.WriteNumber("eos_token_id", 2);
            json.WriteString("torch_dtype", dtype switch { DType.F16 => "float16", DType.BF16 => "bfloat16", _ => "float32" });
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
