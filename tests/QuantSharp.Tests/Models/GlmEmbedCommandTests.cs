using QuantSharp.Models;
using System.Text.Json;
using QuantSharp.Formats;

namespace QuantSharp.Tests.Models;

/// <summary><c>quantsharp embed</c> end to end (the CLI run as a process) against the Kolors-style reference case.</summary>
public sealed class GlmEmbedCommandTests
{
    [Fact]
    public void EmbedJson_LeftPadded_MatchesReference()
    {
        JsonElement padded = GlmFixture.Expected("chatglm3-tiny").GetProperty("padded_text_encoder_case");
        float[][] expected = GlmFixture.Rows(padded.GetProperty("hidden_states_minus2_every_position"));
        (int code, string stdout, string stderr) = Cli.CliRunner.Run("embed", GlmFixture.Path("chatglm3-tiny"), "--ids", string.Join(",", Enumerable.Range(1, 20)), "--layer", "-2", "--max-length", "24", "--json", "--threads", "1");
        Assert.True(code == 0, stderr);
        JsonElement root = Cli.CliRunner.LastJson(stdout);
        Assert.Equal(1, root.GetProperty("layer").GetInt32());
        Assert.Equal(4, root.GetProperty("pads").GetInt32());
        Assert.Equal(GlmFixture.Ints(padded.GetProperty("input_ids")), GlmFixture.Ints(root.GetProperty("input_ids")));
        Assert.Equal(GlmFixture.Ints(padded.GetProperty("attention_mask")), GlmFixture.Ints(root.GetProperty("attention_mask")));
        float[][] rows = GlmFixture.Rows(root.GetProperty("hidden_states"));
        Assert.Equal(24, rows.Length);
        for (int t = 0; t < rows.Length; t++)
        {
            GlmFixture.AssertClose(expected[t], rows[t], 1e-4, $"row {t}");
        }
    }

    [Fact]
    public void EmbedOutputFile_HoldsTheSameRows()
    {
        using var dir = new TempDir();
        string file = dir.File("emb.safetensors");
        (int code, _, string stderr) = Cli.CliRunner.Run("embed", GlmFixture.Path("glm4-tiny"), "--ids", "1,2,3", "--layer", "0", "--max-length", "5", "--output", file, "--threads", "1");
        Assert.True(code == 0, stderr);
        using SafetensorsFile f = SafetensorsFile.Open(file);
        Assert.Equal([5L, 64L], f.Tensors["hidden_states"].Shape);
        float[] states = f.Tensors["hidden_states"].ToFloatArray();
        using SafetensorsFile weights = SafetensorsFile.Open(Path.Combine(GlmFixture.Path("glm4-tiny"), "model.safetensors"));
        float[] embeddings = weights.Tensors["transformer.embedding.word_embeddings.weight"].ToFloatArray();

        // Layer 0 is the embedding lookup: pads (id 0) then ids 1, 2, 3.
        int[] ids = [0, 0, 1, 2, 3];
        for (int r = 0; r < 5; r++)
        {
            Assert.Equal(embeddings.AsSpan(ids[r] * 64, 64).ToArray(), states.AsSpan(r * 64, 64).ToArray());
        }

        Assert.Equal("0", f.Metadata["hidden_states_index"]);

        // The same rows as NumPy (hidden states only).
        string npy = dir.File("emb.npy");
        (code, _, stderr) = Cli.CliRunner.Run("embed", GlmFixture.Path("glm4-tiny"), "--ids", "1,2,3", "--layer", "0", "--max-length", "5", "--output", npy, "--threads", "1");
        Assert.True(code == 0, stderr);
        (long[] shape, float[] values) = QuantSharp.Formats.NpyFile.Read(npy);
        Assert.Equal([5L, 64L], shape);
        Assert.Equal(states, values);
    }

    [Fact]
    public void KolorsPresetEncodesWithTheChatGlm3TokenizerLeftPaddedTo256()
    {
        // A tiny GLM with ChatGLM3's real vocabulary size and tokenizer (random weights; the call's shape is what counts).
        using var dir = new TempDir();
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(GlmFixture.Path("chatglm3-tiny"), "config.json")))!;
        config["padded_vocab_size"] = 65024;
        config["seq_length"] = 512;
        string model = dir.File("glm");
        SyntheticCheckpoint.WriteFromConfig(config.ToJsonString(), null, model, QuantSharp.Tensors.DType.F32, 1, TestPaths.Model("chatglm3-tokenizer"));

        string npy = dir.File("prompt.npy");
        (int code, string stdout, string stderr) = Cli.CliRunner.Run("embed", model, "--preset", "kolors", "--text", "一只可爱的小猫", "--output", npy, "--json", "--threads", "1");
        Assert.True(code == 0, stderr);
        System.Text.Json.JsonElement result = Cli.CliRunner.LastJson(stdout);
        int[] ids = [.. result.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32())];
        Assert.Equal(256, ids.Length);
        int pads = result.GetProperty("pads").GetInt32();
        Assert.All(ids[..pads], id => Assert.Equal(0, id));
        Assert.Equal([64790, 64792], ids[pads..(pads + 2)]); // [gMASK] sop
        Assert.Equal(1, result.GetProperty("layer").GetInt32()); // hidden_states[-2] of a 2-block model
        (long[] shape, _) = QuantSharp.Formats.NpyFile.Read(npy);
        Assert.Equal([256L, 64L], shape);

        (code, _, stderr) = Cli.CliRunner.Run("embed", model, "--preset", "kolors", "--text", "x", "--max-length", "77");
        Assert.Equal(2, code);
        Assert.Contains("--preset kolors fixes", stderr);
        (code, _, stderr) = Cli.CliRunner.Run("embed", GlmFixture.Path("glm4-tiny"), "--preset", "kolors", "--text", "x");
        Assert.Equal(2, code);
    }

    [Theory]
    [InlineData("--text", "hello")]
    [InlineData("--ids", "1,2,3", "--layer", "3")]
    [InlineData("--ids", "1,2,3", "--max-length", "2")]
    [InlineData("--ids", "1,2,3", "--pad", "right", "--max-length", "4")]
    [InlineData("--ids", "1,x")]
    [InlineData("--ids", "1,2,3", "--output", "states.bin")]
    public void EmbedBadInput_ExitCode2WithOneLineError(params string[] args)
    {
        (int code, _, string stderr) = Cli.CliRunner.Run(["embed", GlmFixture.Path("glm4-tiny"), .. args]);
        Assert.Equal(2, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error: ", StringComparison.Ordinal));
    }
}
