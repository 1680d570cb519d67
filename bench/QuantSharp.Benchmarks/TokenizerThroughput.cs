using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using QuantSharp.Tokenizers;
using MlTokenizer = Microsoft.ML.Tokenizers.Tokenizer;
using QsTokenizer = QuantSharp.Tokenizers.Tokenizer;

namespace QuantSharp.Benchmarks;

/// <summary>
/// <c>tokenizers [--file TEXT] [--rounds N]</c>: encoding throughput of every tokenizer kind on a text file (default
/// wiki.test.raw, one string), next to Microsoft.ML.Tokenizers where it has an equivalent (tiktoken, SentencePiece BPE,
/// WordPiece). Both sides are timed alternately in each round after a warm-up pass; the best round counts. Also reports
/// whether the two give the same ids.
/// </summary>
internal static class TokenizerThroughput
{
    public static int Run(string[] args)
    {
        string shared = FindShared();
        string file = Arg(args, "--file") ?? Path.Combine(shared, "data", "wikitext-2-raw", "wiki.test.raw");
        int rounds = int.Parse(Arg(args, "--rounds") ?? "3", System.Globalization.CultureInfo.InvariantCulture);
        string text = File.ReadAllText(file);
        string M(string p) => Path.Combine(shared, "models", p);
        var rows = new (string Name, string Path, Func<MlTokenizer>? Ml)[]
        {
            ("Llama 3 (tiktoken)", M("tokenizers/llama3"), () => TiktokenTokenizer.Create(M("tokenizers/llama3/tokenizer.model"),
                new RegexPreTokenizer(new Regex(PreTokenizerPatterns.Llama3, RegexOptions.Compiled), null), null)),
            ("GLM-4 (tiktoken)", M("tokenizers/glm4"), () => TiktokenTokenizer.Create(M("tokenizers/glm4/tokenizer.model"),
                new RegexPreTokenizer(new Regex(PreTokenizerPatterns.Llama3, RegexOptions.Compiled), null), null)),
            ("Qwen2 (vocab.json + merges.txt)", M("tokenizers/qwen2"), null),
            ("GPT-2 (tokenizer.json)", M("tokenizers/gpt2-json"), null),
            ("DeepSeek-LLM (GGUF gpt2)", M("tokenizers/llama-cpp-vocab/ggml-vocab-deepseek-llm.gguf"), null),
            ("Llama 2 (SentencePiece)", M("llama2-tokenizer"), () => LlamaTokenizer.Create(File.OpenRead(M("llama2-tokenizer/tokenizer.model")), false, false)),
            ("ChatGLM3 (SentencePiece)", M("chatglm3-tokenizer"), () => LlamaTokenizer.Create(File.OpenRead(M("chatglm3-tokenizer/tokenizer.model")), false, false)),
            ("MiniLM (WordPiece vocab.txt)", M("all-MiniLM-L6-v2"), () => BertTokenizer.Create(M("all-MiniLM-L6-v2/vocab.txt"), new BertOptions { LowerCaseBeforeTokenization = true })),
        };

        Console.WriteLine($"text: {file} ({text.Length:N0} chars, {System.Text.Encoding.UTF8.GetByteCount(text) / 1e6:F2} MB), best of {rounds} rounds, 1 thread");
        Console.WriteLine("| tokenizer | tokens | QuantSharp MB/s | QuantSharp M tokens/s | ML.Tokenizers MB/s | ours ÷ ML | same ids |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        double megabytes = System.Text.Encoding.UTF8.GetByteCount(text) / 1e6;
        foreach (var row in rows)
        {
            QsTokenizer ours = TokenizerLoader.Load(row.Path);
            MlTokenizer? ml = row.Ml?.Invoke();
            int[] ourIds = ours.Encode(text[..Math.Min(text.Length, 100_000)]);
            if (ml is not null)
            {
                _ = ml.EncodeToIds(text[..Math.Min(text.Length, 100_000)]);
            }

            double bestOurs = double.MaxValue, bestMl = double.MaxValue;
            IReadOnlyList<int>? mlIds = null;
            for (int r = 0; r < rounds; r++)
            {
                var clock = Stopwatch.StartNew();
                ourIds = ours.Encode(text);
                bestOurs = Math.Min(bestOurs, clock.Elapsed.TotalSeconds);
                if (ml is not null)
                {
                    clock.Restart();
                    mlIds = ml.EncodeToIds(text);
                    bestMl = Math.Min(bestMl, clock.Elapsed.TotalSeconds);
                }
            }

            string same = "–";
            if (mlIds is not null)
            {
                // BertTokenizer adds [CLS] … [SEP]; compare the text's ids.
                IEnumerable<int> theirs = ml is BertTokenizer ? mlIds.Skip(1).Take(mlIds.Count - 2) : mlIds;
                int[] t = theirs.ToArray();
                int diff = t.Length == ourIds.Length ? ourIds.Where((id, i) => id != t[i]).Count() : -1;
                same = diff == 0 ? "yes" : diff < 0 ? $"no ({t.Length:N0} vs {ourIds.Length:N0} ids)" : $"no ({diff:N0} ids differ)";
            }

            Console.WriteLine($"| {row.Name} | {ourIds.Length:N0} | {megabytes / bestOurs:F2} | {ourIds.Length / bestOurs / 1e6:F2} | "
                + (ml is null ? "– | – | – |" : $"{megabytes / bestMl:F2} | {bestMl / bestOurs:F2} | {same} |"));
        }

        return 0;
    }

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    internal static string FindShared()
    {
        for (DirectoryInfo? d = new(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "shared");
            if (Directory.Exists(Path.Combine(candidate, "models")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("../shared not found above the current directory");
    }
}
