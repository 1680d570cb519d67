using System.CommandLine;
using QuantSharp.Models;
using QuantSharp.Tokenizers;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp chat</c>: an interactive multi-turn chat in the terminal with the checkpoint's chat template.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        var system = new Option<string?>("--system") { Description = "A system message that starts the conversation (kept when old turns are dropped)." };
        var template = new Option<string?>("--template") { Description = "A Jinja chat-template file to use instead of the checkpoint's." };
        var generation = new GenerationCliOptions(maxTokens: 512, temperature: 0.7f, topP: 0.9f);
        var context = new Option<int>("--ctx") { Description = "Context window in tokens (default: the model's); the oldest turns are dropped to stay within it.", DefaultValueFactory = _ => 0 };
        var threads = CliOptions.Threads();
        var command = new Command("chat", "Chat with a model in the terminal, one line per message, replies streamed as they are generated.\n"
            + "Commands: /reset forgets the conversation, /exit (or end of input) quits. Uses the checkpoint's chat template (tokenizer_config.json,\n"
            + "chat_template.jinja or GGUF), or ChatGLM3's role format.\n"
            + "Example: quantsharp chat path/to/qwen2.5-0.5b-instruct --system \"You are concise.\"")
        {
            model, system, template, context, threads,
        };
        generation.AddTo(command);
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            SamplingOptions options = generation.Read(parse);

            string? templateFile = parse.GetValue(template);
            if (templateFile is not null && !File.Exists(templateFile))
            {
                throw new UsageException($"{templateFile}: no such template file");
            }

            LoadOptions load = generation.ReadLoad(parse);
            return Run(CliOptions.ResolveModel(parse.GetValue(model)), load, parse.GetValue(system), templateFile, options, parse.GetValue(context));
        });
        return command;
    }

    private static int Run(string path, LoadOptions load, string? system, string? templateFile, SamplingOptions options, int context)
    {
        using LoadedModel loaded = ModelOptions.Load(path, load);
        Tokenizer tokenizer = loaded.RequireTokenizer();
        ChatFormatter formatter = ChatFormatter.For(tokenizer, templateFile is null ? null : File.ReadAllText(templateFile), templateFile);
        int window = context > 0 ? Math.Min(context, loaded.Model.Config.MaxPositions) : loaded.Model.Config.MaxPositions;
        options.StopTokens = tokenizer.EosIds;
        var history = new List<(string Role, string Content)>();
        var generator = new Generator(loaded.Model);
        Console.Error.WriteLine($"chat with {Path.GetFileName(Path.TrimEndingDirectorySeparator(path))} ({tokenizer.Kind}); /reset forgets, /exit quits");
        while (true)
        {
            Console.Error.Write("> ");
            string? line = Console.In.ReadLine();
            if (line is null || line.Trim() == "/exit")
            {
                return ExitCodes.Ok;
            }

            if (line.Trim() == "/reset")
            {
                history.Clear();
                Console.Error.WriteLine("(conversation cleared)");
                continue;
            }

            if (line.Trim().Length == 0)
            {
                continue;
            }

            history.Add(("user", line));
            int[]? prompt = Fit(formatter, system, history, window - options.MaxTokens);
            if (prompt is null)
            {
                history.RemoveAt(history.Count - 1);
                Console.Error.WriteLine($"(that message does not fit in the {window}-token context with room for a {options.MaxTokens}-token reply; shorten it or lower --max-tokens)");
                continue;
            }

            TokenStreamDecoder stream = tokenizer.CreateStreamDecoder();
            var reply = new List<int>();
            foreach (int id in generator.Generate(prompt, options))
            {
                if (tokenizer.EosIds.Contains(id))
                {
                    break;
                }

                reply.Add(id);
                Console.Out.Write(stream.Push(id));
                Console.Out.Flush();
            }

            Console.Out.WriteLine(stream.Flush());
            history.Add(("assistant", tokenizer.Decode(reply)));
            GenerationStats? stats = generator.LastStats;
            if (stats is not null)
            {
                Console.Error.WriteLine($"({stats.PromptTokens} prompt tokens, {stats.GeneratedTokens} generated, {stats.GenerateTokensPerSecond:F1} tokens/s)");
            }
        }
    }

    /// <summary>The prompt ids of the conversation, dropping the oldest turns (never the system message or the newest
    /// user message) until it fits in <paramref name="budget"/> tokens; null when even the newest message does not fit.</summary>
    internal static int[]? Fit(ChatFormatter formatter, string? system, List<(string Role, string Content)> history, int budget)
    {
        while (true)
        {
            var turns = new List<(string, string)>();
            if (system is not null)
            {
                turns.Add(("system", system));
            }

            turns.AddRange(history);
            int[] ids = formatter.Format(turns).Ids;
            if (ids.Length <= budget)
            {
                return ids;
            }

            if (history.Count <= 1)
            {
                return null;
            }

            // Drop the oldest exchange (a user turn and the reply to it).
            history.RemoveRange(0, Math.Min(2, history.Count - 1));
        }
    }
}
