namespace QuantSharp.Tests.Cli;

public class CliTests
{
    [Fact]
    public void MissingModelFolderIsOneLineAndExitCode2()
    {
        var (code, stdout, stderr) = CliRunner.Run("inspect", "/no/such/model");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("/no/such/model", lines[0]);
        Assert.DoesNotContain(" at ", stderr);
    }

    [Fact]
    public void VerboseAddsTheStackTrace()
    {
        var (code, _, stderr) = CliRunner.Run("inspect", "/no/such/model", "--verbose");
        Assert.Equal(2, code);
        Assert.Contains(" at ", stderr);
    }

    [Fact]
    public void BadValueIsExitCode2()
    {
        var (code, _, stderr) = CliRunner.Run("generate", TestPaths.Stories260K, "--max-tokens", "0");
        Assert.Equal(2, code);
        Assert.Contains("--max-tokens", stderr);
    }

    [Fact]
    public void UnparsableOptionIsExitCode2()
    {
        var (code, _, stderr) = CliRunner.Run("generate", TestPaths.Stories260K, "--max-tokens", "many");
        Assert.Equal(2, code);
        Assert.Contains("many", stderr);
    }

    [Fact]
    public void MalformedSafetensorsIsExitCode2NamingTheFile()
    {
        using var dir = new TempDir();
        File.Copy(Path.Combine(TestPaths.Stories260K, "config.json"), dir.File("config.json"));
        File.WriteAllBytes(dir.File("model.safetensors"), [0x10, 0, 0, 0, 0, 0, 0, 0, (byte)'{']);
        var (code, _, stderr) = CliRunner.Run("inspect", dir.Path);
        Assert.Equal(2, code);
        Assert.Contains("model.safetensors", stderr);
    }

    [Fact]
    public void GenerateJsonReproducesGreedyIds()
    {
        var (code, stdout, _) = CliRunner.Run("generate", TestPaths.Stories260K, "--ids", "1", "--max-tokens", "8", "--json");
        Assert.Equal(0, code);
        var json = CliRunner.LastJson(stdout);
        Assert.Equal(new[] { 403, 407, 261, 378, 432, 383, 286, 261 }, json.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.StartsWith("Once upon a time", json.GetProperty("text").GetString());
        Assert.True(json.GetProperty("tokens_per_second").GetDouble() > 0);
    }

    [Fact]
    public void PerplexityJsonHasTheDocumentedFields()
    {
        var (code, stdout, stderr) = CliRunner.Run("perplexity", TestPaths.BrownLlama, "--file", Path.Combine(TestPaths.BrownLlama, "heldout.txt"), "--ctx", "256", "--max-windows", "2", "--json");
        Assert.True(code == 0, stderr);
        var json = CliRunner.LastJson(stdout);
        Assert.Equal(510, json.GetProperty("scored_tokens").GetInt64());
        Assert.Equal(153160, json.GetProperty("tokens").GetInt32());
        Assert.InRange(json.GetProperty("ppl").GetDouble(), 20, 2000);
        Assert.True(json.GetProperty("tokens_per_second").GetDouble() > 0);
    }

    [Fact]
    public void InspectJsonListsEveryTensor()
    {
        var (code, stdout, _) = CliRunner.Run("inspect", TestPaths.Stories260K, "--json");
        Assert.Equal(0, code);
        var json = CliRunner.LastJson(stdout);
        Assert.Equal(260032, json.GetProperty("parameters").GetInt64());
        Assert.Equal(47, json.GetProperty("tensors").GetArrayLength());
    }
}
