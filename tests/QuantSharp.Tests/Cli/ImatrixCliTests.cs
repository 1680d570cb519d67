using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Cli;

public sealed class ImatrixCliTests
{
    private static readonly string Text = TestPaths.Data(Path.Combine("tinyshakespeare", "input.txt"));

    [Fact]
    public void ImatrixWritesLlamaCppNamesAndQuantizeUsesIt()
    {
        using var dir = new TempDir();
        string imatrix = dir.File("stories.imatrix.gguf");
        (int code, string stdout, string stderr) = CliRunner.Run("imatrix", TestPaths.Stories260K, "-o", imatrix, "--calib", Text, "--calib-samples", "4", "--calib-len", "64", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(35, CliRunner.LastJson(stdout).GetProperty("entries").GetInt32()); // 5 blocks × 7 linears
        (code, stdout, stderr) = CliRunner.Run("inspect", imatrix, "--json");
        Assert.True(code == 0, stderr);
        System.Text.Json.JsonElement inspected = CliRunner.LastJson(stdout);
        Assert.Equal("imatrix", inspected.GetProperty("type").GetString());
        Assert.Equal(35, inspected.GetProperty("entries").GetArrayLength());
        Assert.Equal(4, inspected.GetProperty("chunk_count").GetInt32());
        ImportanceMatrix m = ImportanceMatrix.Load(imatrix);
        Assert.Equal(256f, m.Count("blk.0.attn_q.weight"));
        Assert.Equal(172, m.MeanSquares("blk.4.ffn_down.weight")!.Length);

        // quantize finds the entries under their llama.cpp names, and the weighted grids differ from plain RTN.
        string weighted = dir.File("int2-imx"), plain = dir.File("int2");
        (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, weighted, "--scheme", "int2", "--group-size", "32", "--imatrix", imatrix);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, plain, "--scheme", "int2", "--group-size", "32");
        Assert.True(code == 0, stderr);
        using LoadedModel a = ModelLoader.Load(weighted), b = ModelLoader.Load(plain);
        Assert.Equal("int2-g32-asym", a.Model.BlockLinears().First().Weight.Scheme);
        float[] ra = new float[64], rb = new float[64];
        a.Model.Blocks[0].Q!.DequantizeRow(0, ra);
        b.Model.Blocks[0].Q!.DequantizeRow(0, rb);
        Assert.NotEqual(ra, rb);

        // Ternary scales per row or group take it too.
        (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("ternary-imx"), "--scheme", "ternary", "--imatrix", imatrix);
        Assert.True(code == 0, stderr);

        // The same imatrix keyed by the checkpoint's own names works too.
        string hfNamed = dir.File("hf.imatrix.gguf");
        (code, _, stderr) = CliRunner.Run("imatrix", TestPaths.Stories260K, "-o", hfNamed, "--calib", Text, "--calib-samples", "4", "--calib-len", "64", "--hf-names");
        Assert.True(code == 0, stderr);
        Assert.NotNull(ImportanceMatrix.Load(hfNamed).MeanSquares("model.layers.0.self_attn.q_proj.weight"));
        (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("int2-imx-hf"), "--scheme", "int2", "--group-size", "32", "--imatrix", hfNamed);
        Assert.True(code == 0, stderr);
    }

    [Fact]
    public void ImatrixOptionsThatCannotApplyAreUsageErrors()
    {
        using var dir = new TempDir();
        string imatrix = dir.File("m.imatrix.gguf");
        new ImportanceMatrix(new Dictionary<string, (float[], float)> { ["blk.99.attn_q.weight"] = ([1f], 1f) }, [], 1, 1).Save(imatrix);

        (int code, _, string stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("a"), "--scheme", "int8", "--imatrix", imatrix);
        Assert.Equal(2, code);
        Assert.Contains("--imatrix applies to", stderr);
        (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("b"), "--scheme", "int4", "--method", "gptq", "--imatrix", imatrix);
        Assert.Equal(2, code);
        (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("c"), "--scheme", "int4", "--imatrix", dir.File("missing.gguf"));
        Assert.Equal(2, code);
        Assert.Contains("file not found", stderr);

        // An imatrix without an entry for a selected tensor: a usage error naming the imatrix and both names, before
        // anything is written.
        (code, _, stderr) = CliRunner.Run("quantize", TestPaths.Stories260K, dir.File("d"), "--scheme", "int4", "--imatrix", imatrix);
        Assert.Equal(2, code);
        Assert.Contains(imatrix, stderr);
        Assert.Contains("no entry for 'model.layers.", stderr);
        Assert.Contains("(or 'blk.", stderr);
        Assert.False(Directory.Exists(dir.File("d")));
    }
}
