using System.Diagnostics;
using System.IO.Compression;

namespace QuantSharp.Tests.Cli;

/// <summary><c>dotnet pack</c> gives the library with its README, license and symbols, and the CLI as a .NET tool that
/// installs from a local folder and runs the sample model it ships.</summary>
public class PackagingTests
{
    private static string RepositoryRoot() => TestPaths.RepositoryRoot;

    private static (int Code, string Output) Run(string file, string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }

    [Fact]
    public void PackedToolInstallsAndRunsItsSampleModel()
    {
        string root = RepositoryRoot();
        string work = Path.Combine(Path.GetTempPath(), "quantsharp-pack-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            string artifacts = Path.Combine(work, "artifacts");
            (int code, string output) = Run("dotnet", root, "pack", Path.Combine(root, "QuantSharp.slnx"), "-c", "Release", "--no-build", "-o", artifacts);
            Assert.True(code == 0, output);

            using (ZipArchive library = ZipFile.OpenRead(Path.Combine(artifacts, "QuantSharp.0.1.0.nupkg")))
            {
                Assert.Contains(library.Entries, e => e.FullName == "README.md");
                Assert.Contains(library.Entries, e => e.FullName == "lib/net10.0/QuantSharp.dll");
                Assert.Contains(library.Entries, e => e.FullName == "lib/net10.0/QuantSharp.xml");
                using var nuspec = new StreamReader(library.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
                string text = nuspec.ReadToEnd();
                Assert.Contains("<license type=\"expression\">MIT</license>", text);
                Assert.Contains("Microsoft.Extensions.AI.Abstractions", text);
            }

            Assert.True(File.Exists(Path.Combine(artifacts, "QuantSharp.0.1.0.snupkg")));
            using (ZipArchive tool = ZipFile.OpenRead(Path.Combine(artifacts, "QuantSharp.Cli.0.1.0.nupkg")))
            {
                Assert.Contains(tool.Entries, e => e.FullName == "tools/net10.0/any/DotnetToolSettings.xml");
                Assert.Contains(tool.Entries, e => e.FullName == "tools/net10.0/any/samples/stories260K/model.safetensors");
            }

            string toolPath = Path.Combine(work, "tool");
            (code, output) = Run("dotnet", work, "tool", "install", "--tool-path", toolPath, "--add-source", artifacts, "QuantSharp.Cli", "--version", "0.1.0");
            Assert.True(code == 0, output);
            string quantsharp = Path.Combine(toolPath, OperatingSystem.IsWindows() ? "quantsharp.exe" : "quantsharp");
            (code, output) = Run(quantsharp, work, "--help");
            Assert.True(code == 0, output);
            Assert.Contains("serve", output);

            // The shipped sample is the default model wherever no ../shared/models/brown-llama lies above.
            string sample = Path.Combine(Path.GetDirectoryName(Directory.GetFiles(Path.Combine(toolPath, ".store"), "model.safetensors", SearchOption.AllDirectories).Single())!);
            (code, output) = Run(quantsharp, work, "generate", sample, "--max-tokens", "20");
            Assert.True(code == 0, output);
            Assert.Contains("Once upon a time, there was a little girl named Lily.", output);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
