using QuantSharp.Tokenizers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Tensors;

namespace QuantSharp.Models;

/// <summary>
/// Writes a Llama checkpoint folder with a real model's exact shapes and random weights (≈ N(0, 0.02), norms 1):
/// <c>config.json</c>, <c>model.safetensors</c> and, when given one whose vocabulary matches, <c>tokenizer.model</c>.
/// Fit for speed and memory measurements only — the model says nothing sensible.
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

    /// <summary>Writes the folder <paramref name="directory"/> (created if missing; existing files replaced atomically).</summary>
    /// <param name="shape">The model's shapes.</param>
    /// <param name="directory">Output folder.</param>
    /// <param name="dtype">F32, F16 or BF16.</param>
    /// <param name="seed">Random seed; the same seed gives the same bytes.</param>
    /// <param name="tokenizerModel">A SentencePiece <c>tokenizer.model</c> to copy in; used only when its vocabulary
    /// size is the shape's (the caller checks); null writes no tokenizer.</param>
    /// <param name="progress">Called with (bytes done, bytes total).</param>
    public static void Write(SyntheticModelShape shape, string directory, DType dtype, ulong seed, string? tokenizerModel, Action<long, long>? progress = null)
    {
        Directory.CreateDirectory(directory);
        RandomSafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), Tensors(shape), dtype, seed, WeightStd, progress);
        WriteAtomically(Path.Combine(directory, "config.json"), Config(shape, dtype));
        if (tokenizerModel is not null)
        {
            string target = Path.Combine(directory, "tokenizer.model");
            string tmp = target + ".tmp";
            File.Copy(tokenizerModel, tmp, overwrite: true);
            File.Move(tmp, target, overwrite: true);
            WriteAtomically(Path.Combine(directory, "tokenizer_config.json"), "{\"add_bos_token\": true, \"add_eos_token\": false}\n");
        }
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

    private static void WriteAtomically(string path, string text)
    {
        string tmp = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}
