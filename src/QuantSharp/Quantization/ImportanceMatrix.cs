using System.Runtime.InteropServices;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Quantization;

/// <summary>
/// An importance matrix as llama.cpp's <c>llama-imatrix</c> computes it: for each linear weight, the sum over
/// calibration tokens of the squared input of every input column, and the number of tokens. Its mean
/// (<see cref="MeanSquares(string)"/>) weights the rounding error of each column when a grid is chosen
/// (<see cref="GroupGrid.FitWeighted"/>). Read and written in llama.cpp's GGUF imatrix format (<c>general.type</c>
/// <c>imatrix</c>; tensors <c>NAME.in_sum2</c> F32 [cols, 1] and <c>NAME.counts</c> F32 [1, 1]; keys
/// <c>imatrix.datasets</c>, <c>imatrix.chunk_count</c>, <c>imatrix.chunk_size</c>), so files move between the tools.
/// </summary>
public sealed class ImportanceMatrix
{
    private readonly Dictionary<string, (float[] SumSquares, float Count)> _entries;

    /// <summary>Creates a matrix from (name → Σx² per column, tokens) entries.</summary>
    /// <exception cref="ArgumentException">An entry with no columns, a count ≤ 0 or a sum that is negative or not finite.</exception>
    public ImportanceMatrix(IReadOnlyDictionary<string, (float[] SumSquares, float Count)> entries, IReadOnlyList<string> datasets, int chunkCount, int chunkSize)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach ((string name, (float[] sums, float count)) in entries)
        {
            if (sums.Length == 0 || !(count > 0) || sums.Any(v => !float.IsFinite(v) || v < 0))
            {
                throw new ArgumentException($"importance entry '{name}': needs ≥ 1 column, a positive count and finite sums ≥ 0", nameof(entries));
            }
        }

        _entries = new Dictionary<string, (float[], float)>(entries, StringComparer.Ordinal);
        Datasets = datasets;
        ChunkCount = chunkCount;
        ChunkSize = chunkSize;
    }

    /// <summary>Weight names with an entry.</summary>
    public IEnumerable<string> Names => _entries.Keys;

    /// <summary>Where the calibration text came from.</summary>
    public IReadOnlyList<string> Datasets { get; }

    /// <summary>Calibration sequences the sums cover.</summary>
    public int ChunkCount { get; }

    /// <summary>Tokens per calibration sequence.</summary>
    public int ChunkSize { get; }

    /// <summary>Tokens behind the entry of <paramref name="name"/>, or 0 when it has none.</summary>
    public float Count(string name) => _entries.TryGetValue(name, out var e) ? e.Count : 0;

    /// <summary>The mean squared input of each column of weight <paramref name="name"/>, or null when it has no entry.</summary>
    public float[]? MeanSquares(string name)
        => _entries.TryGetValue(name, out var e) ? [.. e.SumSquares.Select(v => v / e.Count)] : null;

    /// <summary>The entry of <paramref name="name"/>, else of its alias (e.g. its llama.cpp name), or null.</summary>
    public float[]? MeanSquares(string name, IReadOnlyDictionary<string, string> aliases)
    {
        ArgumentNullException.ThrowIfNull(aliases);
        return MeanSquares(name) ?? (aliases.TryGetValue(name, out string? alias) ? MeanSquares(alias) : null);
    }

    /// <summary>The same matrix with every name passed through <paramref name="rename"/> (null drops the entry), e.g.
    /// between Hugging Face and GGUF tensor names.</summary>
    public ImportanceMatrix Renamed(Func<string, string?> rename)
    {
        var entries = new Dictionary<string, (float[], float)>(StringComparer.Ordinal);
        foreach ((string name, var e) in _entries)
        {
            if (rename(name) is string to)
            {
                entries[to] = e;
            }
        }

        return new ImportanceMatrix(entries, Datasets, ChunkCount, ChunkSize);
    }

    /// <summary>Writes llama.cpp's GGUF imatrix file (entries sorted by name, as <c>llama-imatrix</c> does), atomically.</summary>
    public void Save(string path)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        using var writer = new GgufWriter(directory);
        writer.Add("general.type", "imatrix");
        writer.Add("imatrix.datasets", Datasets.ToArray());
        writer.Add("imatrix.chunk_count", (uint)ChunkCount);
        writer.Add("imatrix.chunk_size", (uint)ChunkSize);
        foreach (string name in _entries.Keys.Order(StringComparer.Ordinal))
        {
            (float[] sums, float count) = _entries[name];
            writer.AddTensor(name + ".in_sum2", GgmlType.F32, [sums.Length, 1], MemoryMarshal.AsBytes(sums.AsSpan()));
            float[] counts = [count];
            writer.AddTensor(name + ".counts", GgmlType.F32, [1, 1], MemoryMarshal.AsBytes(counts.AsSpan()));
        }

        writer.Commit(path);
    }

    /// <summary>Reads a GGUF imatrix file written by <c>llama-imatrix</c> or <see cref="Save"/>.</summary>
    /// <exception cref="QuantSharpException">Not a GGUF imatrix file (llama.cpp's legacy <c>.dat</c> format included),
    /// per-expert (MoE) entries, or tensors of the wrong type or shape; the message names the file and the tensor.</exception>
    public static ImportanceMatrix Load(string path)
    {
        if (!GgufFile.HasMagic(path))
        {
            throw new QuantSharpException($"{path}: not a GGUF imatrix file (llama.cpp's legacy .dat imatrix is not read; write GGUF with llama-imatrix --output-format gguf)");
        }

        using GgufFile file = GgufFile.Open(path);
        if (file.GetValueOrNull("general.type") is null || file.GetString("general.type") != "imatrix")
        {
            throw new QuantSharpException($"{path}: a GGUF file, but general.type is not 'imatrix'");
        }

        var entries = new Dictionary<string, (float[], float)>(StringComparer.Ordinal);
        foreach (GgufTensorInfo info in file.TensorsInOrder)
        {
            if (!info.Name.EndsWith(".in_sum2", StringComparison.Ordinal))
            {
                continue;
            }

            string name = info.Name[..^".in_sum2".Length];
            GgufTensorInfo counts = file.TensorInfos.TryGetValue(name + ".counts", out GgufTensorInfo? c) ? c
                : throw new QuantSharpException($"{path}: '{info.Name}' has no '{name}.counts' beside it");
            if (info.Type != GgmlType.F32 || counts.Type != GgmlType.F32 || counts.ElementCount != 1 || info.Dimensions.Length > 2 || (info.Dimensions.Length == 2 && info.Dimensions[1] != 1))
            {
                throw new QuantSharpException($"{path}: '{name}' is not one F32 matrix entry ({GgmlTypeInfo.Name(info.Type)} [{string.Join(", ", info.Dimensions)}], counts {counts.ElementCount}); per-expert (MoE) entries are not supported");
            }

            float[] sums = MemoryMarshal.Cast<byte, float>(file.Tensors[info.Name].Bytes).ToArray();
            float count = MemoryMarshal.Cast<byte, float>(file.Tensors[counts.Name].Bytes)[0];
            if (sums.Length == 0 || !(count > 0) || sums.Any(v => !float.IsFinite(v) || v < 0))
            {
                throw new QuantSharpException($"{path}: '{name}' has no columns, count {count}, or sums that are negative or not finite");
            }

            entries[name] = (sums, count);
        }

        string[] datasets = file.GetValueOrNull("imatrix.datasets") is null ? [] : file.GetArray<string>("imatrix.datasets");
        int chunks = (int)Math.Clamp(file.GetInteger("imatrix.chunk_count", 0), 0, int.MaxValue);
        int size = (int)Math.Clamp(file.GetInteger("imatrix.chunk_size", 0), 0, int.MaxValue);
        return new ImportanceMatrix(entries, datasets, chunks, size);
    }
}
