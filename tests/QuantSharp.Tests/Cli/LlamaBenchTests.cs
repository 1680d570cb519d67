using QuantSharp.Cli;

namespace QuantSharp.Tests.Cli;

/// <summary><c>bench --llama-bench PATH</c>: llama.cpp timed through a llama-bench binary, here a fake one
/// (<see cref="FakeLlamaBench"/>) that checks its arguments and prints llama-bench's JSON.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class LlamaBenchTests
{
    private static string FakeGguf(TempDir dir)
    {
        string path = dir.File("model-f16.gguf");
        File.WriteAllBytes(path, "GGUF\u0003\0\0\0"u8.ToArray());
        return path;
    }

    [Fact]
    public void RunPassesTheArgumentsAndReadsThePromptAndGenerationRows()
    {
        using var dir = new TempDir();
        string gguf = FakeGguf(dir);
        var fake = new FakeLlamaBench(dir.Path, prompt: 7, gen: 5, threads: 2) { PrefillTs = 812.75, DecodeTs = 31.5 }.Write();
        using var bench = new LlamaBench(fake.Path, gguf, threads: 2, promptTokens: 7, decodeTokens: 5);
        Assert.Equal(["-m", gguf, "-p", "7", "-n", "5", "-t", "2", "-r", "1", "-o", "json", "-ngl", "0"], bench.Arguments);

        LlamaCppRun run = bench.Run();
        Assert.Equal(812.75, run.PrefillTokensPerSecond);
        Assert.Equal(31.5, run.DecodeTokensPerSecond);
        Assert.Null(run.DecodeCpuCores);
        bench.Run();
        Assert.Equal([$"-m {gguf} -p 7 -n 5 -t 2 -r 1 -o json -ngl 0", $"-m {gguf} -p 7 -n 5 -t 2 -r 1 -o json -ngl 0"], fake.Calls);
    }

    [Fact]
    public void NonZeroExitIsAnErrorNamingTheBinaryWithItsLastMessage()
    {
        using var dir = new TempDir();
        // The fake expects 3 threads and is called with 2: it exits 5 with "unexpected arguments".
        var fake = new FakeLlamaBench(dir.Path, prompt: 7, gen: 5, threads: 3).Write();
        using var bench = new LlamaBench(fake.Path, FakeGguf(dir), threads: 2, promptTokens: 7, decodeTokens: 5);
        var e = Assert.Throws<QuantSharpException>(() => bench.Run());
        Assert.Contains(fake.Path, e.Message);
        Assert.Contains("exited with code 5", e.Message);
        Assert.Contains("unexpected arguments: -p 7 -n 5 -t 2", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void UnparsableOutputIsAnErrorNamingTheBinary()
    {
        using var dir = new TempDir();
        // What llama-bench prints without -o json: a markdown table.
        var fake = new FakeLlamaBench(dir.Path, 7, 5, 2) { Output = "echo '| model | size | params | backend | threads | test | t/s |'" }.Write();
        using var bench = new LlamaBench(fake.Path, FakeGguf(dir), 2, 7, 5);
        var e = Assert.Throws<QuantSharpException>(() => bench.Run());
        Assert.Contains(fake.Path, e.Message);
        Assert.Contains("unparsable llama-bench output", e.Message);
    }

    [Fact]
    public void MissingBinaryIsAUsageErrorAndANonExecutableOneAnErrorNamingIt()
    {
        using var dir = new TempDir();
        var missing = Assert.Throws<UsageException>(() => LlamaBench.Resolve(dir.File("no-such-llama-bench")));
        Assert.Contains(dir.File("no-such-llama-bench"), missing.Message);

        string plain = dir.File("llama-bench");
        File.WriteAllText(plain, "not a program");
        File.SetUnixFileMode(plain, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal(plain, LlamaBench.Resolve(plain));
        using var bench = new LlamaBench(plain, FakeGguf(dir), 1, 4, 2);
        var e = Assert.Throws<QuantSharpException>(() => bench.Run());
        Assert.Contains(plain, e.Message);
        Assert.Contains("could not start", e.Message);
    }

    [Fact]
    public void ParseTakesAvgTsOfTheMatchingRowsInAnyOrder()
    {
        string json = "[" + FakeLlamaBench.Row("m.gguf", 2, 0, 16, 20.5) + "," + FakeLlamaBench.Row("m.gguf", 2, 64, 0, 300.25) + "]";
        LlamaCppRun run = LlamaBench.Parse("lb", json, 64, 16, 2);
        Assert.Equal(300.25, run.PrefillTokensPerSecond);
        Assert.Equal(20.5, run.DecodeTokensPerSecond);
    }

    [Theory]
    [InlineData("", "unparsable")]
    [InlineData("{\"n_prompt\": 64}", "expected a JSON array")]
    [InlineData("[]", "no test with n_prompt=64, n_gen=0")]
    [InlineData("[PP]", "no test with n_prompt=0, n_gen=16")]
    [InlineData("[PP3,TG]", "with 3 threads, not 2")]
    [InlineData("[PP,TG0]", "no positive avg_ts")]
    public void ParseErrorsNameTheBinaryAndTheProblem(string template, string expected)
    {
        string json = template
            .Replace("PP3", FakeLlamaBench.Row("m.gguf", 3, 64, 0, 300), StringComparison.Ordinal)
            .Replace("PP", FakeLlamaBench.Row("m.gguf", 2, 64, 0, 300), StringComparison.Ordinal)
            .Replace("TG0", FakeLlamaBench.Row("m.gguf", 2, 0, 16, 0), StringComparison.Ordinal)
            .Replace("TG", FakeLlamaBench.Row("m.gguf", 2, 0, 16, 20), StringComparison.Ordinal);
        var e = Assert.Throws<QuantSharpException>(() => LlamaBench.Parse("/opt/llama/llama-bench", json, 64, 16, 2));
        Assert.StartsWith("/opt/llama/llama-bench: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void BenchVerbAlternatesWithLlamaBenchOnTheExportedFile()
    {
        using var dir = new TempDir();
        var fake = new FakeLlamaBench(dir.Path, prompt: 4, gen: 2, threads: 1) { PrefillTs = 9876.5, DecodeTs = 432.25 }.Write();
        var (code, stdout, stderr) = CliRunner.Run("bench", TestPaths.Stories260K, "--schemes", "f16", "--threads", "1", "--prompt", "4", "--gen", "2",
            "--repeat", "2", "--probe-mib", "64", "--llama-bench", fake.Path, "--json");
        Assert.True(code == 0, stderr);

        // One llama-bench process per alternated run, each on the GGUF export of the checkpoint (the fake checks its magic).
        Assert.Equal(2, fake.Calls.Length);
        Assert.All(fake.Calls, c => Assert.Matches(@"^-m \S+/model-f16\.gguf -p 4 -n 2 -t 1 -r 1 -o json -ngl 0$", c));
        var json = CliRunner.LastJson(stdout);
        Assert.Equal(fake.Path, json.GetProperty("llama_cpp_via").GetString());
        var result = json.GetProperty("results")[0];
        var llama = result.GetProperty("llama_cpp");
        Assert.Equal("f16", llama.GetProperty("type").GetString());
        Assert.Equal(432.25, llama.GetProperty("decode_tokens_per_second").GetDouble());
        Assert.Equal(432.25, llama.GetProperty("median_decode_tokens_per_second").GetDouble());
        Assert.Equal(9876.5, llama.GetProperty("prefill_tokens_per_second").GetDouble());
        Assert.False(llama.TryGetProperty("decode_cpu_cores", out _));
        // The JSON rounds both our figure and the ratio, so they agree to a rounding step, not exactly.
        double ratio = result.GetProperty("decode_tokens_per_second").GetDouble() / 432.25;
        Assert.InRange(llama.GetProperty("decode_ratio").GetDouble(), ratio - 0.011, ratio + 0.011);
        Assert.Contains("llama.cpp f16: decode 432.25 tok/s, prefill 9876.5 tok/s", stderr);

        // The two roofs: bandwidth (probe GB/s over weight bytes per token) and compute (one core's L2-resident MatVec
        // weights/s); the row names the lower one and the decode speed's fraction of it.
        double decode = result.GetProperty("decode_tokens_per_second").GetDouble();
        double bandwidthRoof = result.GetProperty("bandwidth_roof_tokens_per_second").GetDouble();
        double computeRoof = result.GetProperty("compute_roof_tokens_per_second").GetDouble();
        Assert.InRange(bandwidthRoof, 0.999 * result.GetProperty("bandwidth_gb_per_second").GetDouble() * 1e9 / result.GetProperty("weight_bytes_per_token").GetDouble(), double.MaxValue);
        Assert.True(result.GetProperty("compute_weights_per_second_per_core").GetDouble() > 0);
        Assert.Equal(computeRoof < bandwidthRoof ? "compute" : "bandwidth", result.GetProperty("bound").GetString());
        Assert.Equal(decode / Math.Min(bandwidthRoof, computeRoof), result.GetProperty("min_roof_fraction").GetDouble(), 0.01);
    }

    [Fact]
    public void BenchVerbTimesAGgufFileAsStoredAgainstLlamaBenchOnTheSameFile()
    {
        using var dir = new TempDir();
        string gguf = dir.File("s.gguf");
        var (code, _, stderr) = CliRunner.Run("export", TestPaths.Stories260K, gguf, "--type", "q8_0");
        Assert.True(code == 0, stderr);
        var fake = new FakeLlamaBench(dir.Path, prompt: 4, gen: 2, threads: 1) { PrefillTs = 500, DecodeTs = 50 }.Write();
        (code, string stdout, stderr) = CliRunner.Run("bench", gguf, "--threads", "1", "--prompt", "4", "--gen", "2",
            "--repeat", "1", "--probe-mib", "64", "--llama-bench", fake.Path, "--json");
        Assert.True(code == 0, stderr);
        Assert.All(fake.Calls, c => Assert.StartsWith($"-m {gguf} ", c));
        var result = CliRunner.LastJson(stdout).GetProperty("results")[0];
        Assert.Equal("gguf-q8_0", result.GetProperty("scheme").GetString());
        Assert.Equal("q8_0", result.GetProperty("llama_cpp").GetProperty("type").GetString());

        (code, _, stderr) = CliRunner.Run("bench", gguf, "--schemes", "int4", "--threads", "1");
        Assert.Equal(2, code);
        Assert.Contains("timed as stored (gguf-q8_0)", stderr);
    }

    [Fact]
    public void BenchVerbTimesAQuantizedCheckpointAsStored()
    {
        using var dir = new TempDir();
        string quantized = dir.File("int8");
        var (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, quantized, "--scheme", "int8");
        Assert.True(code == 0, stderr);
        (code, string stdout, stderr) = CliRunner.Run("bench", quantized, "--threads", "1", "--prompt", "4", "--gen", "2", "--repeat", "1", "--probe-mib", "64", "--json");
        Assert.True(code == 0, stderr);
        var results = CliRunner.LastJson(stdout).GetProperty("results");
        Assert.Equal(1, results.GetArrayLength());
        Assert.Equal("int8", results[0].GetProperty("scheme").GetString());

        (code, _, stderr) = CliRunner.Run("bench", quantized, "--schemes", "int4", "--threads", "1");
        Assert.Equal(2, code);
        Assert.Contains("timed as stored (int8)", stderr);
    }

    [Fact]
    public void BenchVerbTimesBatchedDecodeForEachSequenceCount()
    {
        var (code, stdout, stderr) = CliRunner.Run("bench", TestPaths.Stories260K, "--schemes", "int8", "--threads", "1", "--prompt", "4", "--gen", "3",
            "--repeat", "1", "--probe-mib", "64", "--batch", "1,3", "--json");
        Assert.True(code == 0, stderr);
        var batched = CliRunner.LastJson(stdout).GetProperty("batched").EnumerateArray().ToArray();
        Assert.Equal([1, 3], batched.Select(b => b.GetProperty("sequences").GetInt32()));
        foreach (var b in batched)
        {
            Assert.Equal("int8", b.GetProperty("scheme").GetString());
            double each = b.GetProperty("tokens_per_second_per_sequence").GetDouble();
            Assert.True(each > 0);
            Assert.Equal(each * b.GetProperty("sequences").GetInt32(), b.GetProperty("aggregate_tokens_per_second").GetDouble(), 0.01);
            Assert.Equal(0, b.GetProperty("allocated_bytes_per_step").GetDouble());
        }

        (code, _, stderr) = CliRunner.Run("bench", TestPaths.Stories260K, "--batch", "0");
        Assert.Equal(2, code);
        Assert.Contains("--batch: '0'", stderr);
    }

    [Fact]
    public void BenchVerbReportsAMissingOrFailingLlamaBenchInOneLine()
    {
        using var dir = new TempDir();
        var (code, stdout, stderr) = CliRunner.Run("bench", TestPaths.Stories260K, "--llama-bench", dir.File("llama-bench"));
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Equal($"error: --llama-bench {dir.File("llama-bench")}: no such file (give the path of a llama-bench binary)", stderr.Trim());

        var fake = new FakeLlamaBench(dir.Path, 4, 2, 1) { Output = "echo 'Segmentation fault' >&2; exit 139" }.Write();
        (code, _, stderr) = CliRunner.Run("bench", TestPaths.Stories260K, "--schemes", "f16", "--threads", "1", "--prompt", "4", "--gen", "2",
            "--repeat", "1", "--probe-mib", "64", "--llama-bench", fake.Path);
        Assert.Equal(2, code);
        string last = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.StartsWith($"error: {fake.Path}: llama-bench exited with code 139 on ", last);
        Assert.EndsWith("model-f16.gguf: Segmentation fault", last);
    }
}
