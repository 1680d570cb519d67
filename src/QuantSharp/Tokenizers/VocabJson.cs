using System.Text.Json;

namespace QuantSharp.Tokenizers;

/// <summary>Reads a <c>vocab.json</c> (token → id object) into tokens by id.</summary>
internal static class VocabJson
{
    public static string?[] Read(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using JsonDocument doc = JsonDocument.Parse(stream);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new QuantSharpException($"{path}: not a JSON object of token → id");
            }

            var entries = new List<(string Token, int Id)>();
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                entries.Add((p.Name, p.Value.TryGetInt32(out int id) && id >= 0 && id < 1 << 24 ? id
                    : throw new QuantSharpException($"{path}: token '{p.Name}' has no valid id")));
            }

            int max = entries.Count == 0 ? -1 : entries.Max(e => e.Id);
            TokenizerJson.CheckDense(max, entries.Count, path);
            var tokens = new string?[max + 1];
            foreach ((string token, int id) in entries)
            {
                tokens[id] = token;
            }

            return tokens;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a value of the wrong JSON type, or a string that is not valid UTF-8.
            throw new QuantSharpException($"{path}: not valid JSON ({e.Message})", e);
        }
    }
}
