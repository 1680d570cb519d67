using System.CommandLine;
using QuantSharp.Evaluation;
using QuantSharp.Models;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp perplexity</c>: perplexity over a text file (QuantSharp's windows or llama-perplexity's chunks).</summary>
internal static class PerplexityCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var file = new Option<string>("--file", "-f") { Description = "Text file to score (UTF-8), e.g. ../shared/data/wikitext-2-raw/wiki.test.raw.", Required = true };
        var ctx = new Option<int>("--ctx", "-c") { Description = "Window length in tokens, BOS included (default: the smaller of 512 and the model's context).", DefaultValueFactory = _ => 0 };
        var secondHalf = new Option<bool>("--second-half") { Description = "Score only the second half of each window (the first half is context), as llama.cpp's perplexity tool does." };
        var maxWindows = new Option<int>("--max-windows") { Description = "Evaluate at most this many windows (0 = all).", DefaultValueFactory = _ => 0 };
        var protocol = CliOptions.Protocol();
        var klBase = new Option<string?>("--kl-divergence-base") { Description = "With --protocol llama.cpp: save every scored position's log-probabilities to this file in llama-perplexity's --kl-divergence-base format." };
        var kl = new Option<string?>("--kl-divergence") { Description = "Compare this model with the base logits in a file from --kl-divergence-base (ours or llama-perplexity's): KL divergence, same-top rate, both perplexities." };
        var json = CliOptions.Json();
        var threads = CliOptions.Threads();
        var command = new Command("perplexity", "Perplexity of a model on a text file: the text is tokenized as one string, cut into non-overlapping windows of\n"
            + "ctx − 1 tokens (the last partial one dropped), each run as [BOS] + window from an empty cache, every text token scored.\n"
            + "Example: quantsharp perplexity ../shared/models/brown-llama --file ../shared/models/brown-llama/heldout.txt --ctx 256")
        {
            model, file, ctx, secondHalf, maxWindows, protocol, klBase, kl, json, threads,
        };
        var quantize = new SchemeOptions("--quantize", required: false);
        quantize.AddTo(command);
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            string path = parse.GetValue(file)!;
            if (!File.Exists(path))
            {
                throw new UsageException($"{path}: text file not found");
            }

            if (parse.GetValue(ctx) < 0)
            {
                throw new UsageException($"--ctx {parse.GetValue(ctx)} must be positive");
            }

            PerplexityProtocol chosen = CliOptions.ParseProtocol(parse.GetValue(protocol));
            string? basePath = parse.GetValue(klBase), klPath = parse.GetValue(kl);
            if (basePath is not null && chosen != PerplexityProtocol.LlamaCpp)
            {
                throw new UsageException("--kl-divergence-base writes llama.cpp's file: add --protocol llama.cpp");
            }

            LoadOptions load = ModelOptions.LoadTimeQuantization(quantize, parse);
            if (klPath is not null)
            {
                return RunKl(CliOptions.ResolveModel(parse.GetValue(model)), load, klPath, parse.GetValue(json));
            }

            return Run(CliOptions.ResolveModel(parse.GetValue(model)), load, path, new PerplexityOptions
            {
                Context = parse.GetValue(ctx),
                SecondHalf = parse.GetValue(secondHalf),
                MaxWindows = parse.GetValue(maxWindows),
                Protocol = chosen,
                LogitsFile = basePath,
            }, parse.GetValue(json));
        });
        return command;
    }

    private static int Run(string modelPath, LoadOptions load, string file, PerplexityOptions options, bool json)
    {
        using LoadedModel loaded = ModelOptions.Load(modelPath, load);
        var tokenizer = loaded.RequireTokenizer();
        int bos = tokenizer.BosId ?? throw new QuantSharpException($"{modelPath}: the tokenizer has no BOS token, which the perplexity protocol needs");
        IReadOnlyList<int> tokens = tokenizer.Encode(File.ReadAllText(file));
        var progress = new StderrProgress("perplexity");
        PerplexityResult result = PerplexityEvaluator.Evaluate(loaded.Model, tokens, bos, new PerplexityOptions
        {
            Context = options.Context,
            SecondHalf = options.SecondHalf,
            MaxWindows = options.MaxWindows,
            Protocol = options.Protocol,
            AddBos = tokenizer.AddBosByDefault,
            LogitsFile = options.LogitsFile is null ? null : Path.GetFullPath(options.LogitsFile),
            Progress = (done, total) => progress.Report(done, total, "windows"),
        });
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("model", modelPath);
                w.WriteString("file", file);
                w.WriteNumber("ppl", result.Perplexity);
                w.WriteNumber("mean_nll", result.MeanNll);
                w.WriteNumber("tokens", result.FileTokens);
                w.WriteNumber("windows", result.Windows);
                w.WriteNumber("scored_tokens", result.ScoredTokens);
                w.WriteNumber("ctx", result.Context);
                w.WriteBoolean("second_half", options.SecondHalf || options.Protocol == PerplexityProtocol.LlamaCpp);
                w.WriteString("protocol", options.Protocol == PerplexityProtocol.LlamaCpp ? "llama.cpp" : "quantsharp");
                w.WriteNumber("seconds", Math.Round(result.Seconds, 3));
                w.WriteNumber("tokens_per_second", Math.Round(result.TokensPerSecond, 1));
                w.WriteString("linear_weights", string.Join(",", loaded.Model.BlockLinears().Select(l => l.Weight.Scheme).Distinct()));
                w.WriteNumber("weight_bytes", loaded.Model.WeightBytes);
                w.WriteNumber("file_bytes", loaded.FileBytes);
                w.WriteNumber("peak_memory_bytes", PeakMemory.Bytes());
            });
        }
        else
        {
            Console.Out.WriteLine($"perplexity {result.Perplexity:F4} (mean NLL {result.MeanNll:F5}) over {result.ScoredTokens} scored tokens; "
                + $"{result.FileTokens} tokens in the file, {result.Windows} windows of {result.Context}; {result.TokensPerSecond:F0} tokens/s");
        }

        return ExitCodes.Ok;
    }

    private static int RunKl(string modelPath, LoadOptions load, string basePath, bool json)
    {
        using LoadedModel loaded = ModelOptions.Load(modelPath, load);
        var tokenizer = loaded.RequireTokenizer();
        int bos = tokenizer.BosId ?? throw new QuantSharpException($"{modelPath}: the tokenizer has no BOS token, which the llama.cpp protocol needs");
        LlamaCppLogitsFile.Contents contents = LlamaCppLogitsFile.Read(basePath);
        var progress = new StderrProgress("kl-divergence");
        KlDivergenceResult r = KlDivergenceResult.Evaluate(loaded.Model, contents, bos, tokenizer.AddBosByDefault, (d, t) => progress.Report(d, t, "chunks"));
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("model", modelPath);
                w.WriteString("base", basePath);
                w.WriteNumber("kl_mean", r.KlMean);
                w.WriteNumber("kl_p99", r.KlP99);
                w.WriteNumber("same_top", r.SameTop);
                w.WriteNumber("ppl", r.Perplexity);
                w.WriteNumber("base_ppl", r.BasePerplexity);
                w.WriteNumber("positions", r.Positions);
            });
        }
        else
        {
            Console.Out.WriteLine(System.FormattableString.Invariant($"KL divergence from {basePath}: mean {r.KlMean:F6}, p99 {r.KlP99:F6} nats; same top token {r.SameTop:P2}; perplexity {r.Perplexity:F4} (base {r.BasePerplexity:F4}) over {r.Positions} positions"));
        }

        return ExitCodes.Ok;
    }
}
