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
        var like = new Option<string?>("--like") { Description = $"Model whose shapes to copy (Llama naming, one file): {SyntheticModelShape.KnownNames} (first N layers only)." };
        var config = new Option<string?>("--config") { Description = $"A real config.json to copy exactly (its architecture's tensor names, q/k/v biases, GLM's fused weights), written sharded like a Hugging Face upload; or a preset: {string.Join(", ", ConfigPresets.Names)}." };
        var layers = new Option<int?>("--layers") { Description = "With --config: keep only the first N blocks (same widths; for quick runs)." };
        var shardMiB = new Option<long>("--shard-mib") { Description = "With --config: largest shard in MiB (default 4768, transformers' 5 GB).", DefaultValueFactory = _ => SyntheticCheckpoint.DefaultShardBytes >> 20 };
        var output = new Option<string>("--out", "-o") { Description = "Output folder (created; files in it are replaced atomically).", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "Storage dtype: f16, bf16 or f32.", DefaultValueFactory = _ => "f16" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed; the same seed gives the same bytes.", DefaultValueFactory = _ => 0UL };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "--like: a SentencePiece tokenizer.model to copy in when the vocabulary is 32000 (default: ../shared/models/llama2-tokenizer/tokenizer.model). --config: a folder whose tokenizer files are copied (a preset brings its own)." };
        var force = new Option<bool>("--force") { Description = "Replace --out if it exists and is not empty." };
        var json = CliOptions.Json();
        var command = new Command("synth", "Write a checkpoint with a real model's exact shapes and deterministic random weights (≈ N(0, 0.02) with a few 8× outlier\n"
            + "input columns, norms 1). FIT FOR SPEED AND MEMORY MEASUREMENTS ONLY: the weights are noise, so generated text and perplexity mean nothing.\n"
            + "--like: a Llama preset in one file (a 32000-token vocabulary gets the Llama 2 tokenizer). --config: any decoder config.json, named and\n"
            + "sharded as the real upload, tokenizer files copied; the folder appears whole or not at all.\n"
            + "Example: quantsharp synth --like tinyllama-1.1b --out /tmp/tinyllama-synth --dtype f16\n"
            + "Example: quantsharp synth --config chatglm3-6b --out /tmp/chatglm3-6b --dtype bf16 --layers 2")
        {
            like, config, layers, shardMiB, output, dtype, seed, tokenizer, force, json,
        };
        command.SetAction(parse =>
        {
            DType type = parse.GetValue(dtype) switch
            {
                "f16" => DType.F16,
                "bf16" => DType.BF16,
                "f32" => DType.F32,
                var other => throw new UsageException($"--dtype {other}: use f16, bf16 or f32"),
            };
            string? likeName = parse.GetValue(like), configName = parse.GetValue(config);
            if ((likeName is null) == (configName is null))
            {
                throw new UsageException("give exactly one of --like PRESET and --config config.json|PRESET");
            }

            if (configName is not null)
            {
                return RunConfig(configName, parse.GetValue(layers), parse.GetValue(shardMiB), parse.GetValue(output)!, type, parse.GetValue(seed), parse.GetValue(tokenizer), parse.GetValue(force), parse.GetValue(json));
            }

            if (parse.GetValue(layers) is not null)
            {
                throw new UsageException("--layers goes with --config; with --like write the preset as NAME-layers:N");
            }

            return Run(SyntheticModelShape.Parse(likeName!), parse.GetValue(output)!, type, parse.GetValue(seed), parse.GetValue(tokenizer), parse.GetValue(force), parse.GetValue(json));
        });
        return command;
    }

    private static int Run(SyntheticModelShape shape, string directory, DType dtype, ulong seed, string? tokenizerGiven, bool force, bool json)
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
        }, force);
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

    private static int RunConfig(string configName, int? layers, long shardMiB, string directory, DType dtype, ulong seed, string? tokenizerGiven, bool force, bool json)
    {
        if (shardMiB < 1)
        {
            throw new UsageException("--shard-mib must be at least 1");
        }

        (string configJson, string? presetTokenizer, string origin) = ConfigPresets.Resolve(configName);
        string? tokenizer = tokenizerGiven ?? presetTokenizer;
        if (tokenizer is not null && !Directory.Exists(tokenizer))
        {
            throw new UsageException($"--tokenizer {tokenizer}: not a folder (with --config, give the folder whose tokenizer files to copy)");
        }

        var progress = new StderrProgress("synth");
        var gate = new object();
        var clock = Stopwatch.StartNew();
        (IReadOnlyList<RandomTensorSpec> tensors, IReadOnlyList<string> shards) = SyntheticCheckpoint.WriteFromConfig(configJson, layers, directory, dtype, seed, tokenizer, shardMiB << 20, (done, total) =>
        {
            lock (gate)
            {
                progress.Report(done >> 20, total >> 20, "MiB");
            }
        }, force);
        double seconds = clock.Elapsed.TotalSeconds;
        long bytes = shards.Sum(s => new FileInfo(Path.Combine(directory, s)).Length);
        long parameters = tensors.Sum(t => t.ElementCount);
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("config", origin);
                w.WriteString("out", directory);
                w.WriteString("dtype", dtype.ToString().ToLowerInvariant());
                w.WriteNumber("seed", seed);
                w.WriteNumber("parameters", parameters);
                w.WriteNumber("tensors", tensors.Count);
                w.WriteNumber("shards", shards.Count);
                w.WriteNumber("bytes", bytes);
                w.WriteBoolean("tokenizer", tokenizer is not null);
                w.WriteNumber("seconds", Math.Round(seconds, 2));
            });
        }
        else
        {
            Console.Out.WriteLine($"{directory}: {origin}, {parameters / 1e9:F3} B parameters in {tensors.Count} tensors, {dtype}, {shards.Count} shard(s), {CliOptions.Bytes(bytes)} in {seconds:F1} s; "
                + (tokenizer is null ? "no tokenizer (use token ids)" : "tokenizer files from " + tokenizer) + ". Random weights: speed and memory measurements only.");
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
