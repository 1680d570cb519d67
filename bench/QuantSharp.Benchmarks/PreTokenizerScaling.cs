using System.Diagnostics;
using QuantSharp.Tokenizers;

namespace QuantSharp.Benchmarks;

/// <summary>
/// <c>tokenizer-scaling [--rounds N]</c>: time per character of every built-in pre-tokenizer pattern, and of whole
/// encodes with the real Llama 3 and Qwen2 tokenizers, on adversarial texts of 10 k, 100 k and 1 M characters
/// (whitespace runs, alternating whitespace kinds, punctuation and apostrophe runs, one unbroken word, combining marks).
/// Linear time shows as a flat ns/char column; the last column is ns/char at 1 M ÷ at 10 k.
/// </summary>
internal static class PreTokenizerScaling
{
    private static readonly (string Name, Func<int, string> Make)[] Texts =
    [
        ("spaces then a word", n => new string(' ', n - 1) + "x"),
        ("' \\n' repeated", n => Repeat(" \n", n)),
        ("'\\r ' repeated", n => Repeat("\r ", n)),
        ("' \\t' repeated, then a word", n => Repeat(" \t", n - 1) + "x"),
        ("punctuation run", n => new string('!', n)),
        ("apostrophes ('' ' ')", n => Repeat("' ", n)),
        ("one unbroken word", n => new string('a', n)),
        ("letter + combining mark", n => Repeat("e\u0301", n)),
        ("digits", n => new string('7', n)),
    ];

    public static int Run(string[] args)
    {
        int rounds = args.Length > 2 && args[1] == "--rounds" ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3;
        int[] sizes = [10_000, 100_000, 1_000_000];
        var subjects = new List<(string Name, Action<string> Run)>();
        foreach (string name in new[] { "gpt-2", "llama3", "qwen2", "default", "falcon", "deepseek-llm" })
        {
            PreTokenizer p = PreTokenizerPatterns.Build(PreTokenizerPatterns.ForGgufName(name)!);
            subjects.Add(($"pattern `{name}`", text => p.Split(text, [])));
        }

        string shared = TokenizerThroughput.FindShared();
        foreach ((string name, string folder) in new[] { ("Llama 3", "llama3"), ("Qwen2", "qwen2") })
        {
            QuantSharp.Tokenizers.Tokenizer t = TokenizerLoader.Load(Path.Combine(shared, "models", "tokenizers", folder));
            subjects.Add(($"encode, {name} tokenizer", text => t.Encode(text)));
        }

        Console.WriteLine($"best of {rounds} rounds, 1 thread; ns per character at {string.Join(" / ", sizes.Select(s => s.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)))} characters");
        Console.WriteLine("| subject | text | " + string.Join(" | ", sizes.Select(s => $"ns/char @ {s / 1000:N0} k")) + " | 1 M ÷ 10 k |");
        Console.WriteLine("|---|---|" + string.Concat(sizes.Select(_ => "---:|")) + "---:|");
        foreach ((string subject, Action<string> run) in subjects)
        {
            foreach ((string textName, Func<int, string> make) in Texts)
            {
                var perChar = new double[sizes.Length];
                for (int i = 0; i < sizes.Length; i++)
                {
                    string text = make(sizes[i]);
                    run(text); // warm-up
                    double best = double.MaxValue;
                    for (int r = 0; r < rounds; r++)
                    {
                        var clock = Stopwatch.StartNew();
                        run(text);
                        best = Math.Min(best, clock.Elapsed.TotalSeconds);
                    }

                    perChar[i] = best * 1e9 / text.Length;
                }

                Console.WriteLine($"| {subject} | {textName} | {string.Join(" | ", perChar.Select(v => v.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))} | {perChar[^1] / perChar[0]:F2} |");
            }
        }

        return 0;
    }

    private static string Repeat(string unit, int length)
    {
        var b = new System.Text.StringBuilder(length + unit.Length);
        while (b.Length < length)
        {
            b.Append(unit);
        }

        return b.ToString(0, length);
    }
}
