using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Templates;
using QuantSharp.Tokenizers;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp template</c>: render a chat template for a conversation, exactly as the model would see it.</summary>
internal static class TemplateCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("model-or-template") { Description = "A checkpoint folder (its tokenizer_config.json / chat_template.jinja), a .gguf file, or a .jinja file." };
        var messages = new Option<string>("--messages", "-m") { Description = "JSON file: an array of messages ({\"role\", \"content\"}, …), or an object with \"messages\" (and \"tools\").", Required = true };
        var tools = new Option<string?>("--tools") { Description = "JSON file with an array of tool definitions." };
        var generation = new Option<bool>("--add-generation-prompt") { Description = "End with the header that starts the assistant's reply." };
        var bos = new Option<string?>("--bos-token") { Description = "bos_token for the template (default: the tokenizer's)." };
        var eos = new Option<string?>("--eos-token") { Description = "eos_token for the template (default: the tokenizer's)." };
        var ids = new Option<bool>("--ids") { Description = "Also print the prompt's token ids (a checkpoint or GGUF only), on stderr." };
        var command = new Command("template", "Render a chat template for a conversation and print the prompt exactly (no newline is added).\n"
            + "Example: quantsharp template ../shared/models/tokenizers/qwen2 --messages conversation.json --add-generation-prompt")
        {
            source, messages, tools, generation, bos, eos, ids,
        };
        command.SetAction(parse => Run(parse.GetValue(source)!, parse.GetValue(messages)!, parse.GetValue(tools), parse.GetValue(generation),
            parse.GetValue(bos), parse.GetValue(eos), parse.GetValue(ids)));
        return command;
    }

    private static int Run(string source, string messagesFile, string? toolsFile, bool generation, string? bos, string? eos, bool printIds)
    {
        (JsonArray messages, JsonArray? tools) = ReadConversation(messagesFile);
        if (toolsFile is not null)
        {
            tools = ReadJson(toolsFile) as JsonArray ?? throw new UsageException($"{toolsFile}: not a JSON array of tools");
        }

        bool jinjaFile = File.Exists(source) && !QuantSharp.Formats.Gguf.GgufFile.HasMagic(source);
        if (jinjaFile)
        {
            ChatTemplate template = ChatTemplate.Parse(File.ReadAllText(source), source);
            Console.Out.Write(template.Render(new ChatTemplateInput { Messages = messages, Tools = tools, AddGenerationPrompt = generation, BosToken = bos, EosToken = eos }));
            return ExitCodes.Ok;
        }

        Tokenizer tokenizer = TokenizerLoader.Load(source);
        if (tokenizer.ChatTemplate is not null && (bos is not null || eos is not null))
        {
            ChatTemplate template = ChatTemplate.Parse(tokenizer.ChatTemplate, source);
            Console.Out.Write(template.Render(new ChatTemplateInput
            {
                Messages = messages, Tools = tools, AddGenerationPrompt = generation, BosToken = bos ?? tokenizer.BosToken, EosToken = eos ?? tokenizer.EosToken,
            }));
            return ExitCodes.Ok;
        }

        ChatPrompt prompt = ChatFormatter.For(tokenizer).Format(messages, generation, tools);
        Console.Out.Write(prompt.Text);
        Console.Out.Flush();
        if (printIds)
        {
            Console.Error.WriteLine();
            Console.Error.WriteLine(string.Join(' ', prompt.Ids));
        }

        return ExitCodes.Ok;
    }

    private static (JsonArray Messages, JsonArray? Tools) ReadConversation(string path)
    {
        return ReadJson(path) switch
        {
            JsonArray array => (array, null),
            JsonObject obj when obj["messages"] is JsonArray m => (m, obj["tools"] as JsonArray),
            _ => throw new UsageException($"{path}: expected a JSON array of messages or an object with \"messages\""),
        };
    }

    private static JsonNode? ReadJson(string path)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"{path}: no such file");
        }

        try
        {
            return JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new UsageException($"{path}: not valid JSON ({e.Message})");
        }
    }
}
