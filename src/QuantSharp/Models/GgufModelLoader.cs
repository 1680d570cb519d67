using QuantSharp.Tokenizers;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Models;

/// <summary>
/// Runs llama.cpp GGUF files of architecture <c>llama</c>: hyper-parameters from the <c>llama.*</c> keys, the
/// SentencePiece vocabulary from <c>tokenizer.ggml.*</c>, tensors by llama.cpp's names (<see cref="GgufLlamaLayout"/>),
/// each multiplied in its own block type. Registered in <see cref="ModelLoader.FileLoaders"/>.
/// </summary>
public static class GgufModelLoader
{
    /// <summary>Architecture spec naming llama.cpp's tensors; the block recipe is the Hugging Face Llama one.</summary>
    public static ArchitectureSpec Spec { get; } = new()
    {
        Name = "LlamaForCausalLM",
        Embedding = GgufLlamaLayout.Embedding,
        FinalNorm = GgufLlamaLayout.FinalNorm,
        LmHead = GgufLlamaLayout.Output,
        LayerPrefix = GgufLlamaLayout.Block,
        AttnNorm = GgufLlamaLayout.AttnNorm,
        Q = GgufLlamaLayout.Q,
        K = GgufLlamaLayout.K,
        V = GgufLlamaLayout.V,
        O = GgufLlamaLayout.O,
        MlpNorm = GgufLlamaLayout.FfnNorm,
        Gate = GgufLlamaLayout.Gate,
        Up = GgufLlamaLayout.Up,
        Down = GgufLlamaLayout.Down,
    };

    /// <summary>Loads <paramref name="path"/> if it is a GGUF file, else returns null (for <see cref="ModelLoader.FileLoaders"/>).</summary>
    public static LoadedModel? TryLoad(string path, LoadOptions options) => GgufFile.HasMagic(path) ? Load(path, options) : null;

    /// <summary>Loads a Llama GGUF file. A <see cref="LoadOptions.LinearProvider"/> is offered the file as its weight source.</summary>
    /// <exception cref="QuantSharpException">Not architecture <c>llama</c>, missing or inconsistent keys or tensors.</exception>
    public static LoadedModel Load(string path, LoadOptions? options = null)
    {
        GgufFile file = GgufFile.Open(path);
        GgufLinearProvider? provider = null;
        try
        {
            ModelConfig config = ReadConfig(file);
            Tokenizer? tokenizer = GgufVocabulary.Load(file);
            provider = new GgufLinearProvider(file, config.HeadDim);
            ILinearProvider linears = options?.LinearProvider?.Invoke(config, file) ?? provider;
            TransformerModel model = TransformerModel.Create(config, file, linears, provider, Spec);
            return new LoadedModel(model, tokenizer, path, file.FileLength);
        }
        catch
        {
            if (provider is not null)
            {
                provider.Dispose();
            }
            else
            {
                file.Dispose();
            }

            throw;
        }
    }

    /// <summary>The hyper-parameters of a <c>llama</c> GGUF file.</summary>
    /// <exception cref="QuantSharpException">Another architecture, or a key missing, of the wrong type or inconsistent.</exception>
    public static ModelConfig ReadConfig(GgufFile file)
    {
        string arch = file.GetString("general.architecture");
        if (arch != "llama")
        {
            throw new GgufException(GgufError.WrongType, file.Location, "general.architecture", $"architecture '{arch}' is not supported for GGUF files; supported: llama");
        }

        int Int(string key) => ToInt(file, "llama." + key, file.GetInteger("llama." + key));
        int hidden = Int("embedding_length");
        int heads = Int("attention.head_count");
        int kvHeads = file.GetValueOrNull("llama.attention.head_count_kv") is null ? heads : Int("attention.head_count_kv");
        if (hidden <= 0 || heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
        {
            throw new GgufException(GgufError.BadShape, file.Location, "llama.attention.head_count",
                $"embedding_length {hidden}, head_count {heads}, head_count_kv {kvHeads} are inconsistent");
        }

        int headDim = file.GetValueOrNull("llama.attention.key_length") is null ? hidden / heads : Int("attention.key_length");
        int ropeDim = file.GetValueOrNull("llama.rope.dimension_count") is null ? headDim : Int("rope.dimension_count");
        if (ropeDim != headDim)
        {
            throw new GgufException(GgufError.BadShape, file.Location, "llama.rope.dimension_count",
                $"RoPE over {ropeDim} of {headDim} head dimensions is not supported (only full-head RoPE)");
        }

        GgufTensorInfo embedding = file.GetTensor(GgufLlamaLayout.Embedding);
        int vocab = ToInt(file, GgufLlamaLayout.Embedding, embedding.Dimensions[^1]);
        if (file.GetValueOrNull("tokenizer.ggml.tokens") is { } tokens && tokens.ArrayLength != vocab)
        {
            throw new GgufException(GgufError.BadShape, file.Location, "tokenizer.ggml.tokens",
                $"{tokens.ArrayLength} tokens, but {GgufLlamaLayout.Embedding} has {vocab} rows");
        }

        // Llama 3.1's frequency rescaling travels as a rope_freqs tensor (or llama.rope.scaling.*), which this loader does
        // not apply: refuse rather than run with the wrong frequencies.
        if (file.TensorInfos.ContainsKey("rope_freqs.weight")
            || (file.GetValueOrNull("llama.rope.scaling.type") is not null && file.GetString("llama.rope.scaling.type") is not ("none" or "")))
        {
            throw new GgufException(GgufError.WrongType, file.Location, "rope_freqs.weight", "RoPE frequency scaling in a GGUF file is not supported; load the Hugging Face checkpoint (config.json rope_scaling llama3/linear) instead");
        }

        int? bos = file.GetValueOrNull("tokenizer.ggml.bos_token_id") is null ? null : ToInt(file, "tokenizer.ggml.bos_token_id", file.GetInteger("tokenizer.ggml.bos_token_id"));
        int? eos = file.GetValueOrNull("tokenizer.ggml.eos_token_id") is null ? null : ToInt(file, "tokenizer.ggml.eos_token_id", file.GetInteger("tokenizer.ggml.eos_token_id"));
        return new ModelConfig
        {
            Architecture = "LlamaForCausalLM",
            ModelType = "llama",
            HiddenSize = hidden,
            IntermediateSize = Int("feed_forward_length"),
            Layers = Int("block_count"),
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = vocab,
            MaxPositions = Int("context_length"),
            NormEps = (float)file.GetFloat("llama.attention.layer_norm_rms_epsilon", 1e-5),
            RopeTheta = file.GetFloat("llama.rope.freq_base", 10000.0),
            TieWordEmbeddings = !file.TensorInfos.ContainsKey(GgufLlamaLayout.Output),
            BosTokenId = bos,
            EosTokenIds = eos is int e ? [e] : [],
        };
    }

    private static int ToInt(GgufFile file, string key, long value) => value is >= int.MinValue and <= int.MaxValue
        ? (int)value
        : throw new GgufException(GgufError.BadShape, file.Location, key, $"{value} does not fit a 32-bit integer");
}
