using QuantSharp.Tokenizers;
using System.CommandLine;
using QuantSharp.Formats;
using QuantSharp.Models;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp generate</c>: text generation, streamed as it is produced.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Prompt text (a BOS is prepended when the tokenizer asks for it). Default: empty (BOS only)." };
        var chat = new Option<string?>("--chat") { Description = "One user message, formatted with the checkpoint's chat template (or ChatGLM3's role format); prints the reply only." };
        var system = new Option<string?>("--system") { Description = "A system message before --chat." };
        var ids = new Option<string?>("--ids") { Description = "Prompt as comma-separated token ids instead of text (used as given, no BOS added)." };
        var generation = new GenerationCliOptions(maxTokens: 128, temperature: 0f, topP: 1f);
        var json = CliOptions.Json();
        var threads = CliOptions.Threads();
        var command = new Command("generate", "Generate text from a prompt, streaming it as it is produced; prints prompt and generation tokens/s at the end.\n"
            + "Example: quantsharp generate ../shared/models/brown-llama --prompt \"The jury said that\" --max-tokens 40 --temperature 0.8 --top-p 0.9\n"
            + "         quantsharp generate path/to/instruct-model --chat \"Name three colours.\" --system \"Answer briefly.\"")
        {
            model, prompt, chat, system, ids, json, threads,
        };
        generation.AddTo(command);
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            SamplingOptions options = generation.Read(parse);
            LoadOptions load = generation.ReadLoad(parse);
            return Run(CliOptions.ResolveModel(parse.GetValue(model)), load, parse.GetValue(prompt), parse.GetValue(ids), parse.GetValue(chat), parse.GetValue(system), options, parse.GetValue(json));
        });
        return command;
    }

    private static int Run(string path, LoadOptions load, string? promptText, string? idsText, string? chat, string? system, SamplingOptions options, bool json)
    {
        if (chat is null && system is not null)
        {
            throw new UsageException("--system needs --chat");
        }

        if (new[] { promptText, idsText, chat }.Count(x => x is not null) > 1)
        {
            throw new UsageException("give at most one of --prompt, --ids and --chat");
        }

        using LoadedModel loaded = ModelOptions.Load(path, load);
        Tokenizer? tokenizer = loaded.Tokenizer;
        List<int> prompt;
        bool echoPrompt = true;
        if (idsText is not null)
        {
            prompt = [.. ModelOptions.ParseIds(idsText)];
        }
        else if (chat is not null)
        {
            tokenizer = loaded.RequireTokenizer();
            var turns = new List<(string Role, string Content)>();
            if (system is not null)
            {
                turns.Add(("system", system));
            }

            turns.Add(("user", chat));
            prompt = [.. ChatFormatter.For(tokenizer).Format(turns).Ids];
            echoPrompt = false;
        }
        else
        {
            tokenizer = loaded.RequireTokenizer();
            prompt = [.. tokenizer.Encode(promptText ?? "", addSpecialTokens: true)];
        }

        if (tokenizer is not null)
        {
            options.StopTokens = tokenizer.EosIds;
        }

        var generator = new Generator(loaded.Model);
        var generated = new List<int>();
        if (!json && echoPrompt && tokenizer is not null)
        {
            Console.Out.Write(tokenizer.Decode(prompt));
        }

        // Text continues the prompt: decode with the prompt as context so word-initial spaces come out right, then
        // stream only what each token completes (a character split over tokens prints once whole).
        TokenStreamDecoder? stream = tokenizer?.CreateStreamDecoder();
        if (stream is not null && echoPrompt)
        {
            foreach (int id in prompt)
            {
                stream.Push(id);
            }
        }

        foreach (int id in generator.Generate(prompt, options))
        {
            generated.Add(id);
            if (stream is not null)
            {
                if (tokenizer!.EosIds.Contains(id))
                {
                    continue;
                }

                string piece = stream.Push(id);
                if (!json)
                {
                    Console.Out.Write(piece);
                    Console.Out.Flush();
                }
            }
            else if (!json)
            {
                Console.Out.Write($"{id} ");
            }
        }

        if (stream is not null)
        {
            string tail = stream.Flush();
            if (!json)
            {
                Console.Out.Write(tail);
            }
        }

        GenerationStats stats = generator.LastStats!;
        string fullText = tokenizer?.Decode(generated) ?? "";
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteStartArray("prompt_ids");
                prompt.ForEach(w.WriteNumberValue);
                w.WriteEndArray();
                w.WriteStartArray("ids");
                generated.ForEach(w.WriteNumberValue);
                w.WriteEndArray();
                w.WriteString("text", fullText);
                w.WriteNumber("prompt_tokens", stats.PromptTokens);
                w.WriteNumber("prompt_tokens_per_second", Math.Round(stats.PromptTokensPerSecond, 2));
                w.WriteNumber("generated_tokens", stats.GeneratedTokens);
                w.WriteNumber("tokens_per_second", Math.Round(stats.GenerateTokensPerSecond, 2));
                w.WriteString("linear_weights", string.Join(",", loaded.Model.BlockLinears().Select(l => l.Weight.Scheme).Distinct()));
                w.WriteNumber("weight_bytes", loaded.Model.WeightBytes);
                w.WriteNumber("streamed_bytes_per_token", ModelOptions.StreamedBytesPerToken(loaded.Model));
                w.WriteNumber("peak_memory_bytes", QuantSharp.Evaluation.PeakMemory.Bytes());
            });
        }
        else
        {
            Console.Out.WriteLine();
            Console.Out.WriteLine($"prompt: {stats.PromptTokens} tokens, {stats.PromptTokensPerSecond:F1} tokens/s; generation: {stats.GeneratedTokens} tokens, {stats.GenerateTokensPerSecond:F1} tokens/s");
        }

        return ExitCodes.Ok;
    }
}
