using System.Text.Json;

namespace QuantSharp.Tests.Cli;

public class QuantizeCalibratedCliTests
{
    [Fact]
    public void GptqWithAMixedPlanWritesPerModuleSchemesThatReload()
    {
        using var dir = new TempDir();
        string plan = dir.File("plan.json");
        var (code, _, stderr) = CliRunner.Run("plan", TestPaths.Stories260K, "--avg-bits", "3.5", "-o", plan, "--calib-samples", "2", "--calib-len", "32");
        Assert.True(code == 0, stderr);

        string output = dir.File("out");
        (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, output, "--scheme", "int4", "--plan", plan, "--method", "gptq", "--calib-samples", "4", "--calib-len", "32", "--json");
        Assert.True(code == 0, stderr);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "config.json")));
        JsonElement q = config.RootElement.GetProperty("quantization_config");
        var schemes = q.GetProperty("module_schemes").EnumerateObject().Select(p => p.Value.GetString()).Distinct().ToList();
        Assert.True(schemes.Count > 1, "a 3.5-bit plan mixes schemes");
        Assert.Equal(35, q.GetProperty("modules").GetArrayLength());

        (code, string stdout, stderr) = CliRunner.Run("generate", output, "--ids", "1", "--max-tokens", "8", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(8, CliRunner.LastJson(stdout).GetProperty("ids").GetArrayLength());
    }

    [Theory]
    [InlineData("--method", "gptq", "--exclude", "*.down_proj.weight")]
    [InlineData("--method", "awq", "--include", "*.q_proj.weight")]
    [InlineData("--layout", "gptq", "--exclude", "*.o_proj.weight")]
    public void IncludeExcludeWithTheCalibratedPathAreRefusedNotIgnored(string option, string value, string patternOption, string pattern)
    {
        using var dir = new TempDir();
        var (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("o"), "--scheme", "int4", "--group-size", "32", option, value, patternOption, pattern, "--calib-samples", "2", "--calib-len", "16");
        Assert.Equal(2, code);
        Assert.Contains("--include/--exclude work with round-to-nearest only", stderr);
        Assert.False(Directory.Exists(dir.File("o")));
    }

    [Fact]
    public void UnknownMethodAndLayoutAreUsageErrors()
    {
        using var dir = new TempDir();
        var (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("o"), "--scheme", "int4", "--method", "magic");
        Assert.Equal(2, code);
        Assert.Contains("magic", stderr);
        (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("o"), "--scheme", "int4", "--layout", "exl2");
        Assert.Equal(2, code);
        Assert.Contains("exl2", stderr);
        Assert.False(Directory.Exists(dir.File("o")));
    }
}
