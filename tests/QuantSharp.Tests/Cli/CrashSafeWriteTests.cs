using System.Diagnostics;

namespace QuantSharp.Tests.Cli;

/// <summary>
/// Every command that writes, killed at random points: with SIGKILL the output is either absent or complete and
/// byte-identical to an uninterrupted run's, and the next run removes what the killed one left; with SIGTERM nothing is
/// left at all.
/// </summary>
public sealed class CrashSafeWriteTests
{
    public static TheoryData<string, int> Commands => new()
    {
        { "quantize", 20 },
        { "export", 5 },
        { "synth", 5 },
        { "embed", 5 },
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public void KilledRunLeavesNoPartialOutputAndTheNextRunCleansUp(string command, int kills)
    {
        using var dir = new TempDir();
        string reference = Path.Combine(dir.Path, "reference");
        Stopwatch clock = Stopwatch.StartNew();
        RunToEnd(Args(command, reference));
        double seconds = clock.Elapsed.TotalSeconds;

        var random = new Random(17);
        int midWrite = 0;
        // With 20 kills the test also needs 3 of them mid-write; a loaded machine can shift the run's timing, so it kills
        // on (up to three times as often) until it has them rather than fail on a bad draw.
        int i = 0;
        for (; i < kills || (kills >= 20 && midWrite < 3 && i < 3 * kills); i++)
        {
            string output = Path.Combine(dir.Path, $"out{i}");
            int pid = RunAndKill(Args(command, output), TimeSpan.FromSeconds(random.NextDouble() * seconds * 1.1), terminate: false);
            AssertAbsentOrSameAs(reference, output, $"{command} killed (run {i})");
            midWrite += Temporaries(dir.Path).Any() ? 1 : 0;

            RunToEnd(Args(command, output));
            AssertSameAs(reference, output, $"{command} rerun {i}");
            Assert.Empty(Temporaries(dir.Path));
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(Path.GetTempPath()), e => e.Contains($".qs-tmp-{pid}-", StringComparison.Ordinal));
        }

        // The kill times spread over the whole run, so some land while the output is being written (most of the rest land
        // in start-up); fewer than 3 mid-write would mean the test no longer tests what it says.
        Assert.True(kills < 20 || midWrite >= 3, $"only {midWrite} of {i} kills interrupted a write");
    }

    [Fact]
    public void TerminatedQuantizeRemovesItsTemporariesBeforeExiting()
    {
        using var dir = new TempDir();
        string reference = Path.Combine(dir.Path, "reference");
        Stopwatch clock = Stopwatch.StartNew();
        RunToEnd(Args("quantize", reference));
        double seconds = clock.Elapsed.TotalSeconds;
        var random = new Random(5);
        for (int i = 0; i < 5; i++)
        {
            string output = Path.Combine(dir.Path, $"out{i}");
            RunAndKill(Args("quantize", output), TimeSpan.FromSeconds(random.NextDouble() * seconds), terminate: true);
            AssertAbsentOrSameAs(reference, output, $"quantize terminated (run {i})");
            Assert.Empty(Temporaries(dir.Path));
        }
    }

    private static string[] Args(string command, string output) => command switch
    {
        "quantize" => ["quantize", TestPaths.BrownLlama, output, "--scheme", "int4", "--force"],
        "export" => ["export", TestPaths.BrownLlama, output, "--type", "q4_0"],
        "synth" => ["synth", "--config", Path.Combine(TestPaths.Stories260K, "config.json"), "--out", output, "--force"],
        "embed" => ["embed", TestPaths.BrownLlama, "--text", "Once upon a time there was a brown dog.", "-o", output + ".npy"],
        _ => throw new ArgumentException(command),
    };

    private static IEnumerable<string> Temporaries(string folder) =>
        Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories).Where(e => e.Contains(".qs-tmp-", StringComparison.Ordinal));

    private static void RunToEnd(string[] args)
    {
        (int code, _, string stderr) = CliRunner.Run(args);
        Assert.True(code == 0, $"quantsharp {string.Join(' ', args)} failed: {stderr}");
    }

    /// <summary>Starts the CLI, sends SIGKILL (or SIGTERM) after <paramref name="delay"/> unless it finished first, and
    /// waits for it to end.</summary>
    /// <returns>The process id it had.</returns>
    private static int RunAndKill(string[] args, TimeSpan delay, bool terminate)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "QuantSharp.Cli.dll"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        int pid = process.Id;
        if (!process.WaitForExit(delay))
        {
            if (terminate)
            {
                using Process kill = Process.Start("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
                kill.WaitForExit();
            }
            else
            {
                process.Kill();
            }
        }

        Assert.True(process.WaitForExit(60_000), "the interrupted run did not end");
        _ = stdout.Result + stderr.Result;
        return pid;
    }

    private static void AssertAbsentOrSameAs(string reference, string output, string what)
    {
        string file = output + ".npy";
        if (Directory.Exists(output) || File.Exists(output) || File.Exists(file))
        {
            AssertSameAs(reference, output, what);
        }
    }

    /// <summary>The output (a folder, a file, or <c>output.npy</c>) holds exactly the reference's bytes.</summary>
    private static void AssertSameAs(string reference, string output, string what)
    {
        if (File.Exists(reference + ".npy"))
        {
            Assert.True(File.ReadAllBytes(reference + ".npy").AsSpan().SequenceEqual(File.ReadAllBytes(output + ".npy")), $"{what}: .npy differs");
            return;
        }

        if (File.Exists(reference))
        {
            Assert.True(File.ReadAllBytes(reference).AsSpan().SequenceEqual(File.ReadAllBytes(output)), $"{what}: file differs");
            return;
        }

        string[] expected = [.. Directory.EnumerateFiles(reference).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        string[] actual = [.. Directory.EnumerateFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        Assert.Equal(expected, actual);
        foreach (string name in expected)
        {
            Assert.True(File.ReadAllBytes(Path.Combine(reference, name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(output, name))), $"{what}: {name} differs");
        }
    }
}
