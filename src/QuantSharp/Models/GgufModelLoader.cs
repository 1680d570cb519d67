using QuantSharp.Tokenizers;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;

namespace QuantSharp.Models;

/// <summary>
/// Runs llama.cpp GGUF files of architecture <c>llama</c> and <c>chatglm</c> (ChatGLM3, GLM-4): hyper-parameters from
/// the <c>ARCH.*</c> keys, the vocabulary from <c>tokenizer.ggml.*</c>, tensors by llama.cpp's names
/// (<see cref="GgufLlamaLayout"/>, <see cref="GgufChatGlmLayout"/>), each multiplied in its own block type. Registered
/// in <see cref="ModelLoader"/> (its file loaders).
/// </summary>
public static class GgufModelLoader
{
    /// <summary>Architecture spec naming llama.cpp's <c>llama</c> tensors; the block recipe is the Hugging Face Llama one.</summary>
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

    /// <summary>Architecture spec naming llama.cpp's <c>chatglm</c> tensors; the block recipe is <see cref="GlmSpec"/>'s.</summary>
    public static ArchitectureSpec GlmSpecFor(bool qkvBias) => new()
    {
        Name = GlmSpec.Architectures[1],
        Embedding = GgufLlamaLayout.Embedding,
        FinalNorm = GgufLlamaLayout.FinalNorm,
        LmHead = GgufLlamaLayout.Output,
        LayerPrefix = GgufLlamaLayout.Block,
        AttnNorm = GgufLlamaLayout.AttnNorm,
        Qkv = GgufChatGlmLayout.Qkv,
        O = GgufLlamaLayout.O,
        MlpNorm = GgufLlamaLayout.FfnNorm,
        GateUp = GgufChatGlmLayout.GateUp,
        Down = GgufLlamaLayout.Down,
        QkvBias = qkvBias,
        Rope = RopeStyle.InterleavedPartial,
        RotaryFraction = 0.5,
        LastHiddenStateIsNormed = false,
        PaddedQueriesAttendAll = true,
    };

    /// <summary>Loads <paramref name="path"/> if it is a GGUF file, else returns null (one of <see cref="ModelLoader"/>'s file loaders).</summary>
    public static LoadedModel? TryLoad(string path, LoadOptions options) => GgufFile.HasMagic(path) ? Load(path, options) : null;

    /// <summary>Loads a Llama or GLM GGUF file. A <see cref="LoadOptions.LinearProvider"/> is offered the file as its weight source.</summary>
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
            ArchitectureSpec spec = config.ModelType == GlmSpec.ModelType
                ? GlmSpecFor(file.TensorInfos.ContainsKey(GgufLlamaLayout.Block(0) + ArchitectureSpec.BiasOf(GgufChatGlmLayout.Qkv)))
                : Spec;
            TransformerModel model = TransformerModel.Create(config, file, linears, provider, spec);
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

    /// <summary>The hyper-parameters of a <c>llama</c> or <c>chatglm</c> GGUF file.</summary>
    /// <exception cref="QuantSharpException">Another architecture, or a key missing, of the wrong type or inconsistent.</exception>
    public static ModelConfig ReadConfig(GgufFile file)
    {
        string arch = file.GetString("general.architecture");
        bool glm = arch == GgufChatGlmLayout.Architecture;
        if (arch != "llama" && !glm)
        {
            throw new GgufException(GgufError.WrongType, file.Location, "general.architecture", $"architecture '{arch}' is not supported for GGUF files; supported: llama, chatglm");
        }

        string prefix = arch + ".";
        int Int(string key) => ToInt(file, prefix + key, file.GetInteger(prefix + key));
        bool Has(string key) => file.GetValueOrNull(prefix + key) is not null;
        int hidden = Int("embedding_length");
        int heads = Int("attention.head_count");
        int kvHeads = Has("attention.head_count_kv") ? Int("attention.head_count_kv") : heads;
        if (hidden <= 0 || heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
        {
            throw new GgufException(GgufError.BadShape, file.Location, prefix + "attention.head_count",
                $"embedding_length {hidden}, head_count {heads}, head_count_kv {kvHeads} are inconsistent");
        }

        int headDim = Has("attention.key_length") ? Int("attention.key_length") : hidden / heads;
        int ropeDim = Has("rope.dimension_count") ? Int("rope.dimension_count") : headDim;
        int expectedRope = glm ? headDim / 2 : headDim;
        if (ropeDim != expectedRope || (glm && headDim % 4 != 0))
        {
            throw new GgufException(GgufError.BadShape, file.Location, prefix + "rope.dimension_count",
                $"RoPE over {ropeDim} of {headDim} head dimensions is not supported ({arch} files rotate {(glm ? "the first half of each head" : "whole heads")})");
        }

        GgufTensorInfo embedding = file.GetTensor(GgufLlamaLayout.Embedding);
        int vocab = ToInt(file, GgufLlamaLayout.Embedding, embedding.Dimensions[^1]);
        if (file.GetValueOrNull("tokenizer.ggml.tokens") is { } tokens && tokens.ArrayLength != vocab)
        {
            throw new GgufException(GgufError.BadShape, file.Location, "tokenizer.ggml.tokens",
                $"{tokens.ArrayLength} tokens, but {GgufLlamaLayout.Embedding} has {vocab} rows");
        }

        // Llama 3.1's frequency rescaling travels as rope_freqs.weight (one divisor per rotated pair); linear scaling may
        // also come as ARCH.rope.scaling.*. Other kinds (YaRN, …) are refused rather than run with wrong frequencies.
        RopeScaling? scaling = null;
        string scalingType = Has("rope.scaling.type") ? file.GetString(prefix + "rope.scaling.type") : "none";
        if (scalingType == "linear")
        {
            double factor = file.GetFloat(prefix + "rope.scaling.factor", 0);
            scaling = factor > 0 ? new RopeScaling("linear", factor)
                : throw new GgufException(GgufError.BadShape, file.Location, prefix + "rope.scaling.factor", "linear RoPE scaling needs a positive factor");
        }
        else if (scalingType is not ("none" or ""))
        {
            throw new GgufException(GgufError.WrongType, file.Location, prefix + "rope.scaling.type", $"RoPE scaling '{scalingType}' is not supported (supported: linear, rope_freqs.weight)");
        }

        if (file.TensorInfos.TryGetValue(GgufLlamaLayout.RopeFrequencies, out GgufTensorInfo? freqs))
        {
            if (glm || scaling is not null || freqs.Type != GgmlType.F32 || freqs.Dimensions is not [long pairs] || pairs != ropeDim / 2)
            {
                throw new GgufException(GgufError.BadShape, file.Location, GgufLlamaLayout.RopeFrequencies, $"expected F32 [{ropeDim / 2}] divisors of a llama file without other RoPE scaling");
            }

            float[] divisors = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(file.Tensors[GgufLlamaLayout.RopeFrequencies].Bytes).ToArray();
            scaling = divisors.All(d => float.IsFinite(d) && d > 0) ? new RopeScaling("factors", 1) { PairDivisors = divisors }
                : throw new GgufException(GgufError.BadShape, file.Location, GgufLlamaLayout.RopeFrequencies, "RoPE frequency divisors must be finite and positive");
        }

        int? bos = file.GetValueOrNull("tokenizer.ggml.bos_token_id") is null ? null : ToInt(file, "tokenizer.ggml.bos_token_id", file.GetInteger("tokenizer.ggml.bos_token_id"));
        int? eos = file.GetValueOrNull("tokenizer.ggml.eos_token_id") is null ? null : ToInt(file, "tokenizer.ggml.eos_token_id", file.GetInteger("tokenizer.ggml.eos_token_id"));
        bool qkvBias = file.TensorInfos.ContainsKey(GgufLlamaLayout.Block(0) + ArchitectureSpec.BiasOf(GgufChatGlmLayout.Qkv));
        return new ModelConfig
        {
            Architecture = glm ? GlmSpec.Architectures[1] : "LlamaForCausalLM",
            ModelType = glm ? GlmSpec.ModelType : "llama",
            HiddenSize = hidden,
            IntermediateSize = Int("feed_forward_length"),
            Layers = Int("block_count"),
            Heads = heads,
            KvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = vocab,
            MaxPositions = Int("context_length"),
            NormEps = (float)file.GetFloat(prefix + "attention.layer_norm_rms_epsilon", 1e-5),
            RopeTheta = file.GetFloat(prefix + "rope.freq_base", 10000.0),
            TieWordEmbeddings = !file.TensorInfos.ContainsKey(GgufLlamaLayout.Output),
            RopeScaling = scaling,
            BosTokenId = bos,
            EosTokenIds = eos is int e ? [e] : [],
            // The config.json fields GlmSpec reads, so that the spec can also be rebuilt from this config.
            RawJson = glm ? $"{{\"multi_query_attention\":true,\"multi_query_group_num\":{kvHeads},\"add_qkv_bias\":{(qkvBias ? "true" : "false")}}}" : "{}",
        };
    }

    private static int ToInt(GgufFile file, string key, long value) => value is >= int.MinValue and <= int.MaxValue
        ? (int)value
        : throw new GgufException(GgufError.BadShape, file.Location, key, $"{value} does not fit a 32-bit integer");
}
