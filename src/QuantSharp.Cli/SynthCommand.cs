using QuantSharp.Tokenizers;
using System.CommandLine;
using System.Diagnostics;
using QuantSharp.Formats;
using QuantSharp.Models;
using QuantSharp.Tensors;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp synth</c>: a random-weight checkpoint with a real model's shapes, for speed measurements.</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var like = new Option<string>("--like") { Description = $"Model whose shapes to copy: {SyntheticModelShape.KnownNames} (first N layers only).", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Output folder (created; files in it are replaced atomically).", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "Storage dtype: f16, bf16 or f32.", DefaultValueFactory = _ => "f16" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed; the same seed gives the same bytes.", DefaultValueFactory = _ => 0UL };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "SentencePiece tokenizer.model to copy in when the vocabulary is 32000 (default: ../shared/models/llama2-tokenizer/tokenizer.model)." };
        var json = CliOptions.Json();
        var command = new Command("synth", "Write a Llama checkpoint with a real model's exact shapes and deterministic random weights (≈ N(0, 0.02), norms 1).\n"
            + "FIT FOR SPEED AND MEMORY MEASUREMENTS ONLY: the weights are noise, so generated text and perplexity mean nothing.\n"
            + "A 32000-token vocabulary gets the Llama 2 tokenizer; other vocabularies (llama-3.2-1b) get none, so drive them with token ids.\n"
            + "Example: quantsharp synth --like tinyllama-1.1b --out /tmp/tinyllama-synth --dtype f16")
        {
            like, output, dtype, seed, tokenizer, json,
        };
        command.SetAction(parse =>
        {
            SyntheticModelShape shape = SyntheticModelShape.Parse(parse.GetValue(like)!);
            DType type = parse.GetValue(dtype) switch
            {
                "f16" => DType.F16,
                "bf16" => DType.BF16,
                "f32" => DType.F32,
                var other => throw new UsageException($"--dtype {other}: use f16, bf16 or f32"),
            };
            return Run(shape, parse.GetValue(output)!, type, parse.GetValue(seed), parse.GetValue(tokenizer), parse.GetValue(json));
        });
        return command;
    }

    private static int Run(SyntheticModelShape shape, string directory, DType dtype, ulong seed, string? tokenizerGiven, bool json)
    {
        string? tokenizer = null;
        if (shape.VocabSize == 32000)
        {
            tokenizer = tokenizerGiven ?? FindSharedTokenizer();
            if (tokenizerGiven is not null && !File.Exists(tokenizerGiven))
            {
                throw new UsageException($"--tokenizer {tokenizerGiven}: file not found");
            }

            if (tokenizer is not null && SentencePieceModel.Load(tokenizer).Pieces.Length != shape.VocabSize)
            {
                throw new UsageException($"{tokenizer}: its vocabulary is not {shape.VocabSize} tokens");
            }
        }

        var progress = new StderrProgress("synth");
        var gate = new object();
        var clock = Stopwatch.StartNew();
        SyntheticCheckpoint.Write(shape, directory, dtype, seed, tokenizer, (done, total) =>
        {
            lock (gate)
            {
                progress.Report(done >> 20, total >> 20, "MiB");
            }
        });
        double seconds = clock.Elapsed.TotalSeconds;
        long bytes = new FileInfo(Path.Combine(directory, "model.safetensors")).Length;
        string note = tokenizer is null ? "no tokenizer (use token ids)" : "tokenizer.model copied from " + tokenizer;
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("like", shape.Name);
                w.WriteString("out", directory);
                w.WriteString("dtype", dtype.ToString().ToLowerInvariant());
                w.WriteNumber("seed", seed);
                w.WriteNumber("parameters", shape.ParameterCount);
                w.WriteNumber("bytes", bytes);
                w.WriteBoolean("tokenizer", tokenizer is not null);
                w.WriteNumber("seconds", Math.Round(seconds, 2));
            });
        }
        else
        {
            Console.Out.WriteLine($"{directory}: {shape.Name} shapes, {shape.ParameterCount / 1e9:F3} B parameters, {dtype}, {CliOptions.Bytes(bytes)} in {seconds:F1} s; {note}. Random weights: speed measurements only.");
        }

        return ExitCodes.Ok;
    }

    private static string? FindSharedTokenizer()
    {
        foreach (string startDir in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? d = new(startDir); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "shared", "models", "llama2-tokenizer", "tokenizer.model");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
