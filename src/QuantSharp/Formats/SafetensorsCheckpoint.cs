using System.Text.Json;
using QuantSharp.Tensors;

namespace QuantSharp.Formats;

/// <summary>
/// The weights of a Hugging Face checkpoint folder: <c>model.safetensors</c>, or the shards listed in
/// <c>model.safetensors.index.json</c>, or every <c>*.safetensors</c> file when there is neither.
/// </summary>
public sealed class SafetensorsCheckpoint : IWeightSource
{
    private readonly List<SafetensorsFile> _files;

    private SafetensorsCheckpoint(string location, List<SafetensorsFile> files, Dictionary<string, TensorView> tensors, Dictionary<string, string> metadata)
    {
        Location = location;
        _files = files;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <inheritdoc />
    public string Location { get; }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, TensorView> Tensors { get; }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The files mapped, in load order.</summary>
    public IReadOnlyList<string> Files => _files.Select(f => f.Location).ToList();

    /// <summary>Opens a folder (or a single .safetensors file).</summary>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="FileNotFoundException">The folder holds no safetensors weights.</exception>
    /// <exception cref="SafetensorsException">A file or the shard index is malformed.</exception>
    public static SafetensorsCheckpoint Open(string path)
    {
        if (File.Exists(path))
        {
            return FromFiles(path, [path]);
        }

        if (!Directory.Exists(path))
        {
            throw new DirectoryNotFoundException($"{path}: no such folder or file");
        }

        string index = Path.Combine(path, "model.safetensors.index.json");
        string single = Path.Combine(path, "model.safetensors");
        if (File.Exists(index))
        {
            return OpenSharded(path, index);
        }

        if (File.Exists(single))
        {
            return FromFiles(path, [single]);
        }

        string[] all = Directory.GetFiles(path, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal).ToArray();
        if (all.Length == 0)
        {
            throw new FileNotFoundException($"{path}: no model.safetensors, model.safetensors.index.json or *.safetensors file in this folder");
        }

        return FromFiles(path, all);
    }

    private static SafetensorsCheckpoint OpenSharded(string folder, string indexPath)
    {
        Dictionary<string, string> weightMap = new(StringComparer.Ordinal);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new SafetensorsException(SafetensorsError.BadIndex, indexPath, null, "no 'weight_map' object");
            }

            foreach (JsonProperty p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                {
                    throw new SafetensorsException(SafetensorsError.BadIndex, indexPath, p.Name, "weight_map value is not a file name");
                }

                weightMap[p.Name] = p.Value.GetString()!;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-8 (JsonDocument checks it only when read).
            throw new SafetensorsException(SafetensorsError.BadJson, indexPath, null, $"not valid JSON ({e.Message})");
        }

        var shardNames = weightMap.Values.Distinct(StringComparer.Ordinal).OrderBy(s => s, StringComparer.Ordinal).ToList();
        foreach (string shard in shardNames)
        {
            if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
            {
                throw new SafetensorsException(SafetensorsError.BadIndex, indexPath, null, $"shard name '{shard}' is not a plain file name");
            }

            if (!File.Exists(Path.Combine(folder, shard)))
            {
                throw new SafetensorsException(SafetensorsError.BadIndex, indexPath, null, $"shard '{shard}' is listed but missing");
            }
        }

        SafetensorsCheckpoint result = FromFiles(folder, shardNames.Select(s => Path.Combine(folder, s)).ToArray());
        foreach ((string tensor, string shard) in weightMap)
        {
            if (!result.Tensors.ContainsKey(tensor))
            {
                result.Dispose();
                throw new SafetensorsException(SafetensorsError.BadIndex, indexPath, tensor, $"listed in shard '{shard}' but not found there");
            }
        }

        return result;
    }

    private static SafetensorsCheckpoint FromFiles(string location, string[] paths)
    {
        var files = new List<SafetensorsFile>();
        var tensors = new Dictionary<string, TensorView>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (string p in paths)
            {
                SafetensorsFile f = SafetensorsFile.Open(p);
                files.Add(f);
                foreach ((string name, TensorView view) in f.Tensors)
                {
                    if (!tensors.TryAdd(name, view))
                    {
                        throw new SafetensorsException(SafetensorsError.BadIndex, p, name, "also present in another shard");
                    }
                }

                foreach ((string k, string v) in f.Metadata)
                {
                    metadata[k] = v;
                }
            }
        }
        catch
        {
            foreach (SafetensorsFile f in files)
            {
                f.Dispose();
            }

            throw;
        }

        return new SafetensorsCheckpoint(location, files, tensors, metadata);
    }

    /// <summary>Drops this process's resident pages of <paramref name="view"/> (see <see cref="SafetensorsFile.ReleasePages"/>);
    /// the data stays readable. Call it once a tensor has been converted and its stored bytes are no longer needed.</summary>
    public void ReleasePages(TensorView view)
    {
        foreach (SafetensorsFile f in _files)
        {
            if (f.ReleasePages(view))
            {
                return;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (SafetensorsFile f in _files)
        {
            f.Dispose();
        }
    }
}
