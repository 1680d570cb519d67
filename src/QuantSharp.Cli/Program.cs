using System.CommandLine;
using QuantSharp;
using QuantSharp.Cli;

var root = new RootCommand("QuantSharp: quantize transformer checkpoints to 8, 4 and 1.58 bits, save them, run them on CPU, and report what the bits cost.\n"
    + "Every verb takes a model folder (a Hugging Face checkpoint: config.json, *.safetensors, tokenizer files); without one it uses the sample model (../shared/models/brown-llama, else samples/stories260K).");
root.HelpName = "quantsharp";
root.Add(CliOptions.Verbose);
foreach (Command verb in Verbs.All())
{
    root.Add(verb);
}

ParseResult parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"error: {error.Message}");
    }

    Console.Error.WriteLine("Run 'quantsharp --help' (or 'quantsharp <verb> --help') for usage.");
    return ExitCodes.BadInput;
}

bool verbose = parsed.GetValue(CliOptions.Verbose);
try
{
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is QuantSharpException or UsageException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    if (verbose)
    {
        Console.Error.WriteLine(e);
    }

    return ExitCodes.BadInput;
}
catch (Exception e)
{
    Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
    Console.Error.WriteLine(verbose ? e.ToString() : "(run with --verbose for the stack trace)");
    return ExitCodes.Failure;
}
