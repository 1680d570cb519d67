using System.Text.Json;
using QuantSharp.Models;

namespace QuantSharp.Tests.Models;

/// <summary>The tiny GLM checkpoints in ../shared/models/glm-tiny and their reference outputs (expected.json, computed
/// by THUDM's own modeling_chatglm.py).</summary>
internal static class GlmFixture
{
    public static readonly TheoryData<string> Names = new() { "chatglm3-tiny", "glm4-tiny" };

    public static string Path(string name) => TestPaths.Model(System.IO.Path.Combine("glm-tiny", name));

    public static JsonElement Expected(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(Path(name), "expected.json")));
        return doc.RootElement.Clone();
    }

    public static float[] Floats(JsonElement array) => array.EnumerateArray().Select(e => e.GetSingle()).ToArray();

    public static int[] Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public static float[][] Rows(JsonElement array) => array.EnumerateArray().Select(Floats).ToArray();

    public static float[] Row(float[,] matrix, int row)
    {
        int w = matrix.GetLength(1);
        float[] r = new float[w];
        for (int i = 0; i < w; i++)
        {
            r[i] = matrix[row, i];
        }

        return r;
    }

    /// <summary>Max |a − b|.</summary>
    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        }

        return max;
    }

    /// <summary>Asserts every |actual − expected| ≤ relative · max|expected| (the scale of the vector), and returns the
    /// max abs difference.</summary>
    public static double AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double relative, string what)
    {
        double scale = 0;
        foreach (float v in expected)
        {
            scale = Math.Max(scale, Math.Abs(v));
        }

        double diff = MaxAbsDiff(expected, actual);
        Assert.True(diff <= relative * scale, $"{what}: max |Δ| {diff:E3} exceeds {relative:E0} × max|expected| {scale:F3}");
        return diff;
    }

    /// <summary>Copies a fixture into a temp folder, optionally editing config.json and renaming or dropping tensors.</summary>
    public static string CopyCheckpoint(string name, TempDir dir, Func<string, string>? editConfig = null, Func<string, string?>? renameTensor = null)
    {
        string source = Path(name);
        string config = File.ReadAllText(System.IO.Path.Combine(source, "config.json"));
        File.WriteAllText(dir.File("config.json"), editConfig?.Invoke(config) ?? config);
        using var file = QuantSharp.Formats.SafetensorsFile.Open(System.IO.Path.Combine(source, "model.safetensors"));
        using var writer = new QuantSharp.Formats.SafetensorsWriter(dir.Path);
        foreach (var (tensorName, view) in file.Tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            string? renamed = renameTensor is null ? tensorName : renameTensor(tensorName);
            if (renamed is not null)
            {
                writer.Add(view, renamed);
            }
        }

        writer.Commit(dir.File("model.safetensors"));
        return dir.Path;
    }

    /// <summary>Last-position logits of a prefill over <paramref name="ids"/>.</summary>
    public static float[] LastLogits(TransformerModel model, int[] ids)
    {
        using var session = new InferenceSession(model, ids.Length);
        float[] logits = new float[model.Config.VocabSize];
        session.Forward(ids, logits);
        return logits;
    }
}
