using System.CommandLine;
using System.Runtime.InteropServices;
using QuantSharp;
using QuantSharp.Cli;
using QuantSharp.Formats;

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

// Ctrl-C, SIGTERM and SIGHUP end the process as usual, but first delete every unfinished output of this run (the
// temporary siblings outputs are built in), so an interrupted quantize, export, synth, embed or bench leaves nothing.
PosixSignalRegistration[] cleanup = [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }.Select(signal =>
    PosixSignalRegistration.Create(signal, _ =>
    {
        if (OutputTemporaries.RemoveLive() is int removed and > 0)
        {
            Console.Error.WriteLine("interrupted: unfinished output removed");
        }
    }))];
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
finally
{
    foreach (PosixSignalRegistration registration in cleanup)
    {
        registration.Dispose();
    }
}
