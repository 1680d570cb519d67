using System.Globalization;
using System.Text.Json;

namespace QuantSharp.Tests.Models;

/// <summary>The reference outputs shipped with all-MiniLM-L6-v2 (ONNX Runtime and the model's own .NET package).</summary>
internal sealed class MiniLmReference
{
    public static string Folder => TestPaths.Model("all-MiniLM-L6-v2");

    private static readonly Lazy<MiniLmReference> s_instance = new(() => new MiniLmReference());

    public static MiniLmReference Instance => s_instance.Value;

    private MiniLmReference()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "reference.json")));
        JsonElement root = doc.RootElement;
        foreach (JsonElement s in root.GetProperty("sentences").EnumerateArray())
        {
            Texts.Add(s.GetProperty("text").GetString()!);
            Ids.Add([.. s.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32())]);
            Embeddings.Add(Floats(s.GetProperty("embedding")));
            BatchedEmbeddings.Add(Floats(s.GetProperty("embedding_batched")));
        }

        foreach (JsonElement h in root.GetProperty("last_hidden_state").EnumerateArray())
        {
            JsonElement rows = h.ValueKind == JsonValueKind.Object ? h.GetProperty("values") : h;
            LastHiddenStates.Add([.. rows.EnumerateArray().Select(Floats)]);
        }

        foreach (string kind in new[] { "paraphrase", "unrelated" })
        {
            foreach (JsonElement p in root.GetProperty("pairs").GetProperty(kind).EnumerateArray())
            {
                (kind == "paraphrase" ? Paraphrases : Unrelated).Add((p.GetProperty("a").GetInt32(), p.GetProperty("b").GetInt32(), p.GetProperty("cosine").GetSingle()));
            }
        }
    }

    public List<string> Texts { get; } = [];

    public List<int[]> Ids { get; } = [];

    public List<float[]> Embeddings { get; } = [];

    public List<float[]> BatchedEmbeddings { get; } = [];

    /// <summary>Sentences 0–2: [T][384].</summary>
    public List<float[][]> LastHiddenStates { get; } = [];

    public List<(int A, int B, float Cosine)> Paraphrases { get; } = [];

    public List<(int A, int B, float Cosine)> Unrelated { get; } = [];

    private static float[] Floats(JsonElement e) => [.. e.EnumerateArray().Select(v => float.Parse(v.GetRawText(), CultureInfo.InvariantCulture))];
}
