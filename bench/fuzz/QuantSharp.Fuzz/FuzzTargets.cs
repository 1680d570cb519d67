using QuantSharp.Quantization.Gguf;
using System.Text;
using System.Text.Json.Nodes;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Quantization;
using QuantSharp.Templates;
using QuantSharp.Tensors;
using QuantSharp.Tokenizers;

namespace QuantSharp.Fuzz;

/// <summary>Every parser of a file a user downloads or sends, one target each. Each target reads the input the way the
/// product does and then uses what it read (dequantizes tensors, encodes text, renders a template, runs a token), so
/// a parser that accepts an inconsistent file is caught where the inconsistency would bite.</summary>
public static class FuzzTargets
{
    /// <summary>Text every tokenizer target encodes: ASCII, accents, CJK, emoji, digits, whitespace runs and a special token.</summary>
    private const string Sample = "Hello  world! Ünïcödé 你好 🙂 12345\n\t  <|user|> don't";

    /// <summary>All targets, by name.</summary>
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("safetensors", "a .safetensors file: header JSON, dtypes, shapes, offsets; every tensor read as floats",
            FuzzSeeds.Safetensors, input =>
            {
                using SafetensorsFile file = SafetensorsFile.Open(InputFile("safetensors", "model.safetensors", input));
                ReadAll(file.Tensors.Values);
            }),
        new("safetensors-index", "model.safetensors.index.json naming the shards of a sharded checkpoint",
            FuzzSeeds.SafetensorsIndex, input =>
            {
                string folder = FuzzSeeds.ShardedFolder("safetensors-index");
                File.WriteAllBytes(Path.Combine(folder, "model.safetensors.index.json"), input);
                using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(folder);
                ReadAll(checkpoint.Tensors.Values);
            }),
        new("gguf", "a GGUF file: header, metadata, tensor infos, every tensor type's blocks dequantized, vocabulary and model config",
            FuzzSeeds.Gguf, input =>
            {
                using GgufFile file = GgufFile.Parse(input, "fuzz.gguf");
                long budget = 1 << 20; // values dequantized per input, over all tensors
                foreach (GgufTensorInfo t in file.TensorsInOrder)
                {
                    budget -= DequantizeRows(t, budget);
                }

                Tokenizer? tokenizer = GgufVocabulary.Load(file);
                if (tokenizer is not null)
                {
                    RoundTrip(tokenizer);
                }

                if (file.GetValueOrNull("general.architecture") is not null)
                {
                    GgufModelLoader.ReadConfig(file);
                }
            }),
        new("model-config", "config.json: the model config and its quantization_config block",
            FuzzSeeds.ModelConfigs, input =>
            {
                string json = Encoding.UTF8.GetString(input);
                ModelConfig.Parse(json, "config.json");
                QuantizationConfig.FromConfigJson(json);
            }),
        new("checkpoint", "a whole checkpoint folder: config.json, a NUL byte, then model.safetensors (plain or QuantSharp-packed); loaded and run for two tokens",
            FuzzSeeds.Checkpoints, input =>
            {
                if (TwoFiles("checkpoint", input, "config.json", "model.safetensors") is not string folder)
                {
                    return;
                }

                using LoadedModel loaded = ModelLoader.Load(folder);
                if (!loaded.Model.Spec.IsEncoder && loaded.Model.Config.VocabSize is > 2 and <= 1 << 20 && loaded.Model.Config.HiddenSize <= 4096)
                {
                    using var session = new InferenceSession(loaded.Model, contextLength: 8);
                    var logits = new float[loaded.Model.Config.VocabSize];
                    session.Forward([1, 2], logits);
                }
            }),
        new("sentencepiece", "tokenizer.model, SentencePiece protobuf or tiktoken text (told apart by content), as the folder loader reads it",
            FuzzSeeds.TokenizerModels, input => LoadFolderTokenizer("sentencepiece", "tokenizer.model", input)),
        new("tiktoken", "a tiktoken BPE file (base64 token, rank per line)",
            FuzzSeeds.Tiktoken, input => TiktokenFile.Read(InputFile("tiktoken", "tokenizer.model", input))),
        new("tokenizer-json", "Hugging Face tokenizer.json: model, normalizer, pre-tokenizer (regexes), added tokens, post-processor",
            FuzzSeeds.TokenizerJsons, input => LoadFolderTokenizer("tokenizer-json", "tokenizer.json", input)),
        new("vocab-json", "a GPT-2-style vocab.json, a NUL byte, then merges.txt, beside Qwen2's tokenizer_config.json",
            FuzzSeeds.VocabJsonAndMerges, input =>
            {
                if (TwoFiles("vocab-json", input, "vocab.json", "merges.txt") is string folder)
                {
                    File.WriteAllBytes(Path.Combine(folder, "tokenizer_config.json"), FuzzSeeds.Qwen2TokenizerConfig);
                    RoundTrip(TokenizerLoader.Load(folder));
                }
            }),
        new("vocab-txt", "a WordPiece vocab.txt",
            FuzzSeeds.VocabTxt, input => LoadFolderTokenizer("vocab-txt", "vocab.txt", input)),
        new("tokenizer-config", "tokenizer_config.json beside a SentencePiece model: added tokens, BOS/EOS, padding, chat template rendered",
            FuzzSeeds.TokenizerConfigs, input =>
            {
                string folder = ScratchFolder.Fresh("tokenizer-config");
                File.WriteAllBytes(Path.Combine(folder, "tokenizer.model"), FuzzSeeds.StoriesTokenizerModel);
                File.WriteAllBytes(Path.Combine(folder, "tokenizer_config.json"), input);
                Tokenizer tokenizer = TokenizerLoader.Load(folder);
                RoundTrip(tokenizer);
                if (tokenizer.ChatTemplate is not null)
                {
                    ChatFormatter.For(tokenizer).Format(Conversation());
                }
            }),
        new("chat-template", "a Jinja chat template, parsed and rendered for a conversation with tools",
            FuzzSeeds.ChatTemplates, input =>
            {
                ChatTemplate template = ChatTemplate.Parse(Encoding.UTF8.GetString(input), "fuzz.jinja");
                template.Render(new ChatTemplateInput
                {
                    Messages = Conversation(),
                    Tools = [new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "f", ["parameters"] = new JsonObject() } }],
                    AddGenerationPrompt = true,
                    BosToken = "<s>",
                    EosToken = "</s>",
                    Now = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc),
                });
            }),
        new("npy", "a NumPy .npy array (what embed --output writes and users feed back)",
            FuzzSeeds.Npy, input => NpyFile.Read(InputFile("npy", "x.npy", input))),
        new("quant-plan", "a mixed-precision plan file (plan --out, quantize --plan)",
            FuzzSeeds.Plans, input => QuantPlan.Load(InputFile("quant-plan", "plan.json", input))),
        new("server-request", "an HTTP request body for the server: first byte picks /v1/chat/completions, /v1/completions or /v1/embeddings",
            FuzzSeeds.ServerRequests, ServerRequestTarget.Run),
    ];

    /// <summary>The target called <paramref name="name"/>.</summary>
    public static FuzzTarget Get(string name) => All.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"no fuzz target '{name}'; targets: {string.Join(", ", All.Select(t => t.Name))}");

    internal static JsonArray Conversation() => ChatTemplateInput.MessagesFrom(
        [("system", "Be brief."), ("user", "Hi <|user|> {{ 1 }}"), ("assistant", "Hello."), ("user", "Again?")]);

    private static void LoadFolderTokenizer(string target, string fileName, byte[] input) =>
        RoundTrip(TokenizerLoader.Load(Path.GetDirectoryName(InputFile(target, fileName, input))!));

    /// <summary>Splits <paramref name="input"/> at its first NUL byte into two files of a fresh scratch folder of the
    /// target and returns the folder; null when there is no NUL byte.</summary>
    private static string? TwoFiles(string target, byte[] input, string first, string second)
    {
        int split = Array.IndexOf(input, (byte)0);
        if (split < 0)
        {
            return null;
        }

        string folder = ScratchFolder.Fresh(target);
        File.WriteAllBytes(Path.Combine(folder, first), input[..split]);
        File.WriteAllBytes(Path.Combine(folder, second), input[(split + 1)..]);
        return folder;
    }

    /// <summary>Writes <paramref name="input"/> as <paramref name="fileName"/> in a fresh scratch folder of the target.</summary>
    private static string InputFile(string target, string fileName, byte[] input)
    {
        string path = Path.Combine(ScratchFolder.Fresh(target), fileName);
        File.WriteAllBytes(path, input);
        return path;
    }

    private static void RoundTrip(Tokenizer tokenizer)
    {
        int[] ids = tokenizer.Encode(Sample, addSpecialTokens: true, parseSpecialTokens: true);
        tokenizer.Decode(ids, skipSpecialTokens: false);
        var stream = tokenizer.CreateStreamDecoder();
        foreach (int id in ids)
        {
            stream.Push(id);
        }

        stream.Flush();
    }

    private static void ReadAll(IEnumerable<TensorView> tensors)
    {
        foreach (TensorView view in tensors)
        {
            if (view.DType is DType.F32 or DType.F16 or DType.BF16 && view.ElementCount <= 1 << 20)
            {
                view.ToFloatArray();
            }
            else
            {
                long sum = 0;
                foreach (byte b in view.Bytes)
                {
                    sum += b;
                }

                GC.KeepAlive(sum);
            }
        }
    }

    /// <summary>Dequantizes the rows of <paramref name="t"/> in order, as many as <paramref name="budget"/> values allow
    /// (the last row always), and returns the number of values dequantized.</summary>
    private static unsafe long DequantizeRows(GgufTensorInfo t, long budget)
    {
        if (!GgmlTypeInfo.CanDequantize(t.Type) || t.RowLength is <= 0 or > 1 << 20 || t.RowCount == 0 || budget < t.RowLength)
        {
            return 0;
        }

        long rowBytes = GgmlTypeInfo.RowBytes(t.Type, t.RowLength);
        var row = new float[t.RowLength];
        long rows = Math.Min(t.RowCount, budget / t.RowLength);
        for (long r = 0; r < rows; r++)
        {
            long index = r == rows - 1 ? t.RowCount - 1 : r;
            GgufDequantize.Row(t.Type, new ReadOnlySpan<byte>(t.Pointer + index * rowBytes, checked((int)rowBytes)), row);
        }

        return rows * t.RowLength;
    }
}
