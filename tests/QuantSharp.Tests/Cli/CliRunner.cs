using System.Diagnostics;

namespace QuantSharp.Tests.Cli;

/// <summary>Runs the built CLI (QuantSharp.Cli.dll, copied next to the tests) as a separate process.</summary>
internal static class CliRunner
{
    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => RunWithInput(null, args);

    /// <summary>Runs the CLI with <paramref name="stdin"/> as its standard input (null: none).</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunWithInput(string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
            StandardInputEncoding = stdin is null ? null : new System.Text.UTF8Encoding(false),
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "QuantSharp.Cli.dll"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }

        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(true);
            throw new TimeoutException("quantsharp " + string.Join(' ', args) + " did not finish in 120 s");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The last non-empty line of stdout, parsed as JSON.</summary>
    public static System.Text.Json.JsonElement LastJson(string stdout)
    {
        string last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        using var doc = System.Text.Json.JsonDocument.Parse(last);
        return doc.RootElement.Clone();
    }
}
