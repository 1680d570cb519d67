using QuantSharp.Tokenizers;

namespace QuantSharp.Tests.Tokenizers;

/// <summary>llama.cpp's tokenizer test vectors (ids from Hugging Face's reference implementations) through every kind
/// of tokenizer file: tiktoken, vocab.json + merges.txt, tokenizer.json, WordPiece vocab.txt and each GGUF vocabulary.</summary>
public class TokenizerVectorTests
{
    /// <summary>(tokenizer folder or GGUF, vector file stem) pairs.</summary>
    private static readonly (string Name, string Tokenizer, string Vectors)[] s_sources =
    [
        ("llama3-tiktoken", "tokenizers/llama3", "tokenizers/llama3/ggml-vocab-llama-bpe.gguf"),
        ("qwen2-vocab-merges", "tokenizers/qwen2", "tokenizers/qwen2/ggml-vocab-qwen2.gguf"),
        ("gpt2-tokenizer-json", "tokenizers/gpt2-json", "tokenizers/gpt2-json/ggml-vocab-gpt-2.gguf"),
        ("gpt2-vocab-merges", "gpt2-tokenizer", "tokenizers/gpt2-json/ggml-vocab-gpt-2.gguf"),
        ("minilm-vocab-txt", "all-MiniLM-L6-v2", "tokenizers/llama-cpp-vocab/ggml-vocab-bert-bge.gguf"),
        ("gguf-gpt-2", "tokenizers/llama-cpp-vocab/ggml-vocab-gpt-2.gguf", "tokenizers/llama-cpp-vocab/ggml-vocab-gpt-2.gguf"),
        ("gguf-phi-3", "tokenizers/llama-cpp-vocab/ggml-vocab-phi-3.gguf", "tokenizers/llama-cpp-vocab/ggml-vocab-phi-3.gguf"),
        ("gguf-deepseek-llm", "tokenizers/llama-cpp-vocab/ggml-vocab-deepseek-llm.gguf", "tokenizers/llama-cpp-vocab/ggml-vocab-deepseek-llm.gguf"),
        ("gguf-starcoder", "tokenizers/llama-cpp-vocab/ggml-vocab-starcoder.gguf", "tokenizers/llama-cpp-vocab/ggml-vocab-starcoder.gguf"),
        ("gguf-falcon", "tokenizers/llama-cpp-vocab/ggml-vocab-falcon.gguf", "tokenizers/llama-cpp-vocab/ggml-vocab-falcon.gguf"),
        ("gguf-bert-bge", "tokenizers/llama-cpp-vocab/ggml-vocab-bert-bge.gguf", "tokenizers/llama-cpp-vocab/ggml-vocab-bert-bge.gguf"),
        ("gguf-llama-spm", "tokenizers/llama-cpp-vocab/ggml-vocab-llama-spm.gguf", "tokenizers/llama-cpp-vocab/ggml-vocab-llama-spm.gguf"),
    ];

    private static readonly Dictionary<string, Lazy<Tokenizer>> s_tokenizers = s_sources.ToDictionary(
        s => s.Name, s => new Lazy<Tokenizer>(() => TokenizerLoader.Load(TestPaths.Model(s.Tokenizer))));

    /// <summary>Tokenizers that give text back unchanged (WordPiece lower-cases and drops whitespace).</summary>
    private static readonly HashSet<string> s_lossless = ["llama3-tiktoken", "qwen2-vocab-merges", "gpt2-tokenizer-json", "gpt2-vocab-merges",
        "gguf-gpt-2", "gguf-phi-3", "gguf-starcoder", "gguf-falcon", "gguf-llama-spm", "gguf-deepseek-llm"];

    /// <summary>Reads a llama.cpp <c>.inp</c>/<c>.out</c> pair.</summary>
    internal static List<(string Text, int[] Ids)> ReadVectors(string stem)
    {
        string[] inputs = File.ReadAllText(stem + ".inp").Split("\n__ggml_vocab_test__\n");
        string[] outputs = File.ReadAllText(stem + ".out").Split('\n');
        var cases = new List<(string, int[])>();
        for (int i = 0; i < inputs.Length - 1; i++)
        {
            cases.Add((inputs[i], outputs[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()));
        }

        return cases;
    }

    public static TheoryData<string> Sources()
    {
        var data = new TheoryData<string>();
        foreach (var s in s_sources)
        {
            data.Add(s.Name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void EveryVectorEncodesExactly(string name)
    {
        var source = s_sources.Single(s => s.Name == name);
        Tokenizer tokenizer = s_tokenizers[name].Value;
        var failures = new List<string>();
        var vectors = ReadVectors(TestPaths.Model(source.Vectors));
        Assert.Equal(46, vectors.Count);
        for (int i = 0; i < vectors.Count; i++)
        {
            (string text, int[] expected) = vectors[i];
            int[] actual = tokenizer.Encode(text);
            if (!expected.SequenceEqual(actual))
            {
                failures.Add($"#{i} {System.Text.Json.JsonSerializer.Serialize(text)}: expected [{string.Join(' ', expected)}] got [{string.Join(' ', actual)}]");
            }
        }

        Assert.True(failures.Count == 0, $"{tokenizer.Kind}: {failures.Count} of {vectors.Count} differ:\n" + string.Join('\n', failures));
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void DecodeOfEncodeGivesTheTextBackAndStreamsTheSame(string name)
    {
        var source = s_sources.Single(s => s.Name == name);
        Tokenizer tokenizer = s_tokenizers[name].Value;
        foreach ((string text, _) in ReadVectors(TestPaths.Model(source.Vectors)))
        {
            int[] ids = tokenizer.Encode(text);
            string decoded = tokenizer.Decode(ids);
            if (s_lossless.Contains(name))
            {
                Assert.Equal(text, decoded);
            }

            TokenStreamDecoder stream = tokenizer.CreateStreamDecoder();
            var streamed = new System.Text.StringBuilder();
            foreach (int id in ids)
            {
                string piece = stream.Push(id);
                Assert.DoesNotContain('\uFFFD', piece);
                streamed.Append(piece);
            }

            streamed.Append(stream.Flush());
            Assert.Equal(decoded, streamed.ToString());
        }
    }
}

/// <summary>A Llama-3-style tokenizer.json (Split regex + ByteLevel without regex, ignore_merges, merges as pairs,
/// TemplateProcessing with BOS), built from the tiktoken file the way transformers' TikTokenConverter does, must give
/// the same ids as the tiktoken file itself.</summary>
public class TokenizerJsonTests
{
    [Fact]
    public void Llama3StyleTokenizerJsonReproducesTheVectors()
    {
        string tiktoken = TestPaths.Model("tokenizers/llama3/tokenizer.model");
        var ranks = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(tiktoken))
        {
            string[] parts = line.Split(' ');
            ranks[QuantSharp.Tokenizers.ByteLevelAlphabet.Encode(Convert.FromBase64String(parts[0]))] = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }

        // Every split of a token into two tokens is a merge, ordered by the rank of the result (then of the parts).
        var merges = new List<(int Rank, int Left, int Right, string A, string B)>();
        foreach ((string token, int rank) in ranks)
        {
            for (int cut = 1; cut < token.Length; cut++)
            {
                if (ranks.TryGetValue(token[..cut], out int l) && ranks.TryGetValue(token[cut..], out int r))
                {
                    merges.Add((rank, l, r, token[..cut], token[cut..]));
                }
            }
        }

        merges.Sort((x, y) => (x.Rank, x.Left, x.Right).CompareTo((y.Rank, y.Left, y.Right)));
        using var dir = new TempDir();
        using (var stream = File.Create(dir.File("tokenizer.json")))
        using (var w = new System.Text.Json.Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteStartArray("added_tokens");
            w.WriteStartObject();
            w.WriteNumber("id", 128000);
            w.WriteString("content", "<|begin_of_text|>");
            w.WriteBoolean("special", true);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", QuantSharp.Tokenizers.PreTokenizerPatterns.Llama3);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("type", "ByteLevel");
            w.WriteBoolean("add_prefix_space", false);
            w.WriteBoolean("use_regex", false);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("post_processor");
            w.WriteString("type", "TemplateProcessing");
            w.WriteStartArray("single");
            w.WriteRawValue("""{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}""");
            w.WriteRawValue("""{"Sequence": {"id": "A", "type_id": 0}}""");
            w.WriteEndArray();
            w.WriteStartObject("special_tokens");
            w.WritePropertyName("<|begin_of_text|>");
            w.WriteRawValue("""{"id": "<|begin_of_text|>", "ids": [128000], "tokens": ["<|begin_of_text|>"]}""");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("decoder");
            w.WriteString("type", "ByteLevel");
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteBoolean("ignore_merges", true);
            w.WriteStartObject("vocab");
            foreach ((string token, int rank) in ranks)
            {
                w.WriteNumber(token, rank);
            }

            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var m in merges)
            {
                w.WriteStartArray();
                w.WriteStringValue(m.A);
                w.WriteStringValue(m.B);
                w.WriteEndArray();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        var tokenizer = QuantSharp.Tokenizers.TokenizerLoader.Load(dir.Path);
        Assert.StartsWith("byte-level BPE (tokenizer.json)", tokenizer.Kind, StringComparison.Ordinal);
        foreach ((string text, int[] ids) in TokenizerVectorTests.ReadVectors(TestPaths.Model("tokenizers/llama3/ggml-vocab-llama-bpe.gguf")))
        {
            Assert.Equal(ids, tokenizer.Encode(text));
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
        }

        Assert.Equal([128000, 2028, 374, 264, 1296, 11914, 13], tokenizer.Encode("This is a test sentence.", addSpecialTokens: true));
    }
}
