using System.Text.Json;
using QuantSharp.Formats;

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
    [InlineData("gptq", "--exclude", "*.down_proj.weight")]
    [InlineData("awq", "--include", "*.q_proj.weight")]
    public void IncludeExcludeWithGptqAndAwq_KeepTheOtherBlockLinearsAsStored(string method, string patternOption, string pattern)
    {
        using var dir = new TempDir();
        string output = dir.File("o");
        var (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, output, "--scheme", "int4", "--group-size", "32", "--method", method,
            patternOption, pattern, "--calib-samples", "2", "--calib-len", "16");
        Assert.True(code == 0, stderr);

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "config.json")));
        string[] modules = [.. config.RootElement.GetProperty("quantization_config").GetProperty("modules").EnumerateArray().Select(m => m.GetString()!)];
        using var source = SafetensorsCheckpoint.Open(TestPaths.Stories260K);
        using var written = SafetensorsCheckpoint.Open(output);
        string[] blockLinears = [.. source.Tensors.Keys.Where(n => n.StartsWith("model.layers.", StringComparison.Ordinal) && n.EndsWith("_proj.weight", StringComparison.Ordinal))];
        Assert.NotEmpty(blockLinears);
        foreach (string name in blockLinears)
        {
            bool selected = patternOption == "--include" ? name.EndsWith(".q_proj.weight", StringComparison.Ordinal) : !name.EndsWith(".down_proj.weight", StringComparison.Ordinal);
            string module = name[..^".weight".Length];
            Assert.Equal(selected, modules.Contains(module));
            if (!selected)
            {
                Assert.Equal(source.Tensors[name].DType, written.Tensors[name].DType);
                Assert.True(source.Tensors[name].Bytes.SequenceEqual(written.Tensors[name].Bytes), $"{name} is kept byte for byte");
            }
        }

        (code, string stdout, stderr) = CliRunner.Run("generate", output, "--ids", "1", "--max-tokens", "4", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(4, CliRunner.LastJson(stdout).GetProperty("ids").GetArrayLength());
    }

    [Fact]
    public void AwqIncludingOnlyQ_LeavesTheAttentionNormUnscaled()
    {
        using var dir = new TempDir();
        string output = dir.File("o");
        var (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, output, "--scheme", "int4", "--group-size", "32", "--method", "awq",
            "--include", "*.q_proj.weight", "--calib-samples", "2", "--calib-len", "16");
        Assert.True(code == 0, stderr);
        using var source = SafetensorsCheckpoint.Open(TestPaths.Stories260K);
        using var written = SafetensorsCheckpoint.Open(output);
        const string Norm = "model.layers.0.input_layernorm.weight";
        Assert.True(source.Tensors[Norm].Bytes.SequenceEqual(written.Tensors[Norm].Bytes), "k and v are kept, so q's input is not scaled");
    }

    [Theory]
    [InlineData("--layout", "gptq", "--exclude", "*.o_proj.weight", "cannot be used with --layout gptq")]
    [InlineData("--method", "gptq", "--include", "model.embed_tokens.weight", "outside the transformer blocks (model.embed_tokens.weight)")]
    [InlineData("--method", "awq", "--exclude", "*", "leave no block linear")]
    public void IncludeExcludeTheCalibratedPathCannotHonour_AreRefused(string option, string value, string patternOption, string pattern, string message)
    {
        using var dir = new TempDir();
        var (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("o"), "--scheme", "int4", "--group-size", "32", option, value, patternOption, pattern, "--calib-samples", "2", "--calib-len", "16");
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
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
