using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Tests.Models;

namespace QuantSharp.Tests.Cli;

/// <summary>embed and fidelity on a real encoder, and the decoder side of fidelity and perplexity --protocol llama.cpp.</summary>
public sealed class EncoderCliTests
{
    [Fact]
    public void EmbedFileWritesOneNormalizedRowPerLineToNpyAndSafetensors()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"qs-embed-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            MiniLmReference r = MiniLmReference.Instance;
            string texts = Path.Combine(dir, "texts.txt");
            File.WriteAllLines(texts, r.Texts.Take(5).Prepend(""));
            var (code, _, stderr) = CliRunner.Run("embed", MiniLmReference.Folder, "--file", texts, "--output", Path.Combine(dir, "e.npy"));
            Assert.True(code == 0, stderr);
            (long[] shape, float[] values) = NpyFile.Read(Path.Combine(dir, "e.npy"));
            Assert.Equal([5L, 384L], shape);
            for (int i = 0; i < 5; i++)
            {
                for (int c = 0; c < 384; c++)
                {
                    Assert.True(Math.Abs(values[(i * 384) + c] - r.Embeddings[i][c]) <= 1e-5, $"text {i}, dim {c}");
                }
            }

            (code, _, stderr) = CliRunner.Run("embed", MiniLmReference.Folder, "--file", texts, "--output", Path.Combine(dir, "e.safetensors"));
            Assert.True(code == 0, stderr);
            using SafetensorsFile f = SafetensorsFile.Open(Path.Combine(dir, "e.safetensors"));
            Assert.Equal(values, f.Tensors["embeddings"].ToFloatArray());
            Assert.Empty(Directory.GetFiles(dir, "*.tmp*"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void EmbedTextJsonGivesTheReferenceEmbedding()
    {
        MiniLmReference r = MiniLmReference.Instance;
        JsonElement json = CliRunner.LastJson(CliRunner.Run("embed", MiniLmReference.Folder, "--text", r.Texts[3], "--json").Stdout);
        float[] e = [.. json.GetProperty("embeddings")[0].EnumerateArray().Select(v => v.GetSingle())];
        Assert.Equal("mean", json.GetProperty("pooling").GetString());
        Assert.True(json.GetProperty("normalize").GetBoolean());
        Assert.All(e.Zip(r.Embeddings[3]), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-5));
    }

    [Fact]
    public void EmbedFileOnADecoderAndABadOutputExtensionAreUsageErrors()
    {
        string texts = Path.Combine(Path.GetTempPath(), $"qs-lines-{Guid.NewGuid():N}.txt");
        File.WriteAllText(texts, "one line of text here\n");
        try
        {
            var (code, _, stderr) = CliRunner.Run("embed", TestPaths.BrownLlama, "--file", texts);
            Assert.Equal(2, code);
            Assert.Contains("decoder", stderr, StringComparison.Ordinal);
            (code, _, stderr) = CliRunner.Run("embed", MiniLmReference.Folder, "--file", texts, "--output", "x.csv");
            Assert.Equal(2, code);
            Assert.Contains(".npy", stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(texts);
        }
    }

    [Fact]
    public void FidelityOfInt8OnTheEncoderReportsCosineRecallAndPairs()
    {
        JsonElement json = CliRunner.LastJson(CliRunner.Run("fidelity", MiniLmReference.Folder, "--scheme", "int8", "--file", TestPaths.Data("wikitext-2-raw/wiki.test.raw"),
            "--max-texts", "60", "--pairs", Path.Combine(MiniLmReference.Folder, "reference.json"), "--json").Stdout);
        Assert.Equal(60, json.GetProperty("texts").GetInt32());
        Assert.True(json.GetProperty("cosine_mean").GetDouble() > 0.999);
        Assert.True(json.GetProperty("recall_at_10").GetDouble() > 0.9);
        Assert.Equal(1.0, json.GetProperty("reference_pair_order").GetDouble());
        Assert.Equal(7, json.GetProperty("layer_relative_l2").GetArrayLength());
    }

    [Fact]
    public void FidelityOfADecoderReportsBothPerplexitiesKlAndTopOne()
    {
        JsonElement json = CliRunner.LastJson(CliRunner.Run("fidelity", TestPaths.BrownLlama, "--scheme", "int4", "--file", Path.Combine(TestPaths.BrownLlama, "heldout.txt"),
            "--ctx", "64", "--max-windows", "4", "--json").Stdout);
        double refPpl = json.GetProperty("reference_ppl").GetDouble(), ppl = json.GetProperty("quantized_ppl").GetDouble();
        Assert.InRange(ppl / refPpl, 0.9, 1.2);
        Assert.InRange(json.GetProperty("kl_mean").GetDouble(), 1e-6, 0.5);
        Assert.InRange(json.GetProperty("top1_agreement").GetDouble(), 0.7, 1.0);
        Assert.Equal(4 * 63, json.GetProperty("scored_tokens").GetInt32());
    }

    [Fact]
    public void FidelityWithTheLlamaCppProtocolScoresWhatPerplexityScores()
    {
        string heldout = Path.Combine(TestPaths.BrownLlama, "heldout.txt");
        JsonElement fidelity = CliRunner.LastJson(CliRunner.Run("fidelity", TestPaths.BrownLlama, "--scheme", "int8", "--file", heldout,
            "--ctx", "64", "--max-windows", "3", "--protocol", "llama.cpp", "--json").Stdout);
        JsonElement perplexity = CliRunner.LastJson(CliRunner.Run("perplexity", TestPaths.BrownLlama, "--file", heldout,
            "--ctx", "64", "--max-windows", "3", "--protocol", "llama.cpp", "--json").Stdout);
        Assert.Equal(3 * 31, fidelity.GetProperty("scored_tokens").GetInt32());
        Assert.Equal(perplexity.GetProperty("ppl").GetDouble(), fidelity.GetProperty("reference_ppl").GetDouble(), 4);
    }

    [Fact]
    public void PerplexityProtocolLlamaCppScoresTheSecondHalfOfEachChunk()
    {
        JsonElement json = CliRunner.LastJson(CliRunner.Run("perplexity", TestPaths.BrownLlama, "--file", Path.Combine(TestPaths.BrownLlama, "heldout.txt"),
            "--ctx", "64", "--max-windows", "3", "--protocol", "llama.cpp", "--json").Stdout);
        Assert.Equal("llama.cpp", json.GetProperty("protocol").GetString());
        Assert.Equal(3 * 31, json.GetProperty("scored_tokens").GetInt32());
    }
}
