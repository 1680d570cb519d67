using System.CommandLine;
using System.Text;
using QuantSharp.Tokenizers;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp tokenize</c>: text → ids (and pieces) with a checkpoint's tokenizer.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var model = CliOptions.ModelArgument();
        model.Description = "A checkpoint folder (it may hold only tokenizer files) or any .gguf file, vocab-only ones included. Default: ../shared/models/brown-llama.";
        var text = new Option<string?>("--text") { Description = "Text to encode." };
        var file = new Option<string?>("--file", "-f") { Description = "Read the text from a file (UTF-8)." };
        var inp = new Option<bool>("--inp") { Description = "The file is llama.cpp's .inp test format (strings separated by '\\n__ggml_vocab_test__\\n'); prints one line of ids per string, as its .out files." };
        var special = new Option<bool>("--special") { Description = "Parse special-token text (<|eot_id|>, [gMASK]) into its id. Off by default: such text in user input stays text." };
        var bos = new Option<bool>("--bos") { Description = "Add the ids the tokenizer puts around every text (BOS; ChatGLM's [gMASK] sop; BERT's [CLS] … [SEP])." };
        var json = CliOptions.Json();
        var command = new Command("tokenize", "Encode text with a checkpoint's tokenizer and print the ids and pieces.\n"
            + "Tokenizers: tokenizer.json, vocab.json + merges.txt, tiktoken or SentencePiece tokenizer.model (ChatGLM3 included), WordPiece vocab.txt, GGUF vocabularies (llama, gpt2, bert).\n"
            + "Examples: quantsharp tokenize ../shared/models/tokenizers/llama3 --text \"Hello world\" --bos\n"
            + "          quantsharp tokenize ../shared/models/tokenizers/llama-cpp-vocab/ggml-vocab-phi-3.gguf -f ggml-vocab-phi-3.gguf.inp --inp")
        {
            model, text, file, inp, special, bos, json,
        };
        command.SetAction(parse => Run(CliOptions.ResolveModel(parse.GetValue(model)), parse.GetValue(text), parse.GetValue(file),
            parse.GetValue(inp), parse.GetValue(special), parse.GetValue(bos), parse.GetValue(json)));
        return command;
    }

    private static int Run(string path, string? text, string? file, bool inp, bool special, bool bos, bool json)
    {
        if ((text is null) == (file is null))
        {
            throw new UsageException("give exactly one of --text or --file");
        }

        if (inp && file is null)
        {
            throw new UsageException("--inp reads a file: give --file");
        }

        if (file is not null && !File.Exists(file))
        {
            throw new UsageException($"{file}: no such file");
        }

        Tokenizer tokenizer = TokenizerLoader.Load(path);
        string input = text ?? File.ReadAllText(file!);
        if (inp)
        {
            string[] strings = input.Split("\n__ggml_vocab_test__\n");
            var output = new StringBuilder();
            for (int i = 0; i < strings.Length - (input.EndsWith("\n__ggml_vocab_test__\n", StringComparison.Ordinal) ? 1 : 0); i++)
            {
                foreach (int id in tokenizer.Encode(strings[i], bos, special))
                {
                    output.Append(' ').Append(id);
                }

                output.Append('\n');
            }

            Console.Out.Write(output.ToString());
            return ExitCodes.Ok;
        }

        int[] ids = tokenizer.Encode(input, bos, special);
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("tokenizer", tokenizer.Kind);
                w.WriteStartArray("ids");
                foreach (int id in ids)
                {
                    w.WriteNumberValue(id);
                }

                w.WriteEndArray();
                w.WriteStartArray("pieces");
                foreach (int id in ids)
                {
                    w.WriteStringValue(tokenizer.TokenToString(id));
                }

                w.WriteEndArray();
                w.WriteString("decoded", tokenizer.Decode(ids, skipSpecialTokens: false));
            });
            return ExitCodes.Ok;
        }

        Console.Out.WriteLine(string.Join(' ', ids));
        foreach (int id in ids)
        {
            Console.Out.WriteLine($"{id,8}  {Escape(tokenizer.TokenToString(id) ?? "")}");
        }

        Console.Error.WriteLine($"{ids.Length} tokens ({tokenizer.Kind})");
        return ExitCodes.Ok;
    }

    private static string Escape(string piece) => piece.Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal);
}
