using System.Diagnostics;
using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Models;

/// <summary>
/// Decides what one tensor becomes: a quantized weight (<see cref="PackedLinear"/>, e.g. from
/// <see cref="QuantizedLinear.Quantize(TensorView, QuantSpec)"/> or a GPTQ/AWQ solver), a converted dense weight
/// (<see cref="DenseLinear"/>, e.g. bf16), or null to store the tensor unchanged.
/// </summary>
/// <param name="tensorName">Tensor name in the source (e.g. <c>model.layers.0.mlp.up_proj.weight</c>).</param>
/// <param name="view">Its data (memory-mapped; or the replacement given in <see cref="CheckpointWriteOptions.ReplacedTensors"/>).</param>
public delegate ILinearWeight? TensorConverter(string tensorName, TensorView view);

/// <summary>Options of <see cref="QuantizedCheckpointWriter.Write"/>.</summary>
public sealed class CheckpointWriteOptions
{
    /// <summary>Tensors whose values replace the source's (same element count, written F32 unless converted), e.g. norms
    /// into which AWQ folded its scales, or weights a calibrated method already updated. Every name must exist in the source.</summary>
    public IReadOnlyDictionary<string, float[]>? ReplacedTensors { get; init; }

    /// <summary>Replace an existing non-empty output folder (<c>--force</c>).</summary>
    public bool Overwrite { get; init; }

    /// <summary>Called after each tensor with (tensors done, tensors total, tensor name).</summary>
    public Action<int, int, string>? Progress { get; init; }

    /// <summary>Stops between tensors (Ctrl-C); the output is then not created.</summary>
    public CancellationToken Cancellation { get; init; }
}

/// <summary>
/// Writes QuantSharp's quantized checkpoint layout (docs/formats.md) from a safetensors checkpoint, streaming one tensor
/// at a time from the memory map: peak memory ≈ one source tensor as floats plus its converted form; the output is
/// built on disk. The result is a folder that loads without the source: <c>model.safetensors</c> (packed tensors plus every
/// other tensor unchanged), <c>config.json</c> with a <c>quantization_config</c> block, and the source's other
/// top-level files (tokenizer, generation config, README…) copied.
/// </summary>
/// <remarks>
/// The write is atomic: everything goes into a hidden temporary sibling folder that is renamed into place at the end;
/// on any exception or cancellation the temporary folder is deleted and no output appears. Works for any safetensors
/// checkpoint, including architectures QuantSharp cannot run (the converter alone decides what is quantized).
/// All quantized tensors of one checkpoint share one <see cref="QuantSpec"/> (the <c>quantization_config</c> records one).
/// </remarks>
public static class QuantizedCheckpointWriter
{
    private static readonly string[] s_weightExtensions = [".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".onnx"];

    /// <summary>Writes <paramref name="outFolder"/> from <paramref name="source"/> (a checkpoint folder or a single .safetensors file).</summary>
    /// <exception cref="QuantSharpException">Bad source (already quantized, unreadable), the converter produced nothing or
    /// a wrong shape, NaN/Inf weights, or the output exists (without <see cref="CheckpointWriteOptions.Overwrite"/>).</exception>
    /// <exception cref="OperationCanceledException">Cancelled; nothing was written.</exception>
    public static QuantizationReport Write(string source, string outFolder, TensorConverter convert, CheckpointWriteOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(outFolder);
        ArgumentNullException.ThrowIfNull(convert);
        options ??= new CheckpointWriteOptions();
        var clock = Stopwatch.StartNew();
        CheckPaths(source, outFolder);
        string? configPath = Directory.Exists(source) ? Path.Combine(source, "config.json") : null;
        string? configJson = configPath is not null && File.Exists(configPath) ? File.ReadAllText(configPath) : null;
        if (configJson is not null && HasQuantizationConfig(configJson, configPath!))
        {
            throw new QuantSharpException($"{configPath}: the checkpoint is already quantized (it has a quantization_config); quantize the original instead");
        }

        using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(source);
        CheckSource(checkpoint, options.ReplacedTensors);
        using AtomicFolder folder = AtomicFolder.Begin(outFolder, options.Overwrite);
        var reports = new List<TensorReport>();
        var modules = new List<string>();
        var specs = new Dictionary<string, QuantSpec>(StringComparer.Ordinal);
        string weightsPath = folder.File("model.safetensors");
        using (var writer = new SafetensorsWriter(folder.TempPath))
        {
            string[] names = [.. checkpoint.Tensors.Keys.Order(StringComparer.Ordinal)];
            for (int i = 0; i < names.Length; i++)
            {
                options.Cancellation.ThrowIfCancellationRequested();
                string name = names[i];
                TensorView stored = checkpoint.Tensors[name];
                TensorView view = options.ReplacedTensors?.TryGetValue(name, out float[]? values) == true
                    ? TensorView.FromFloats(name, (long[])stored.Shape.Clone(), values)
                    : stored;
                ILinearWeight? converted = convert(name, view);
                long after = WriteOne(writer, name, view, converted, specs, modules);
                checkpoint.ReleasePages(stored);
                reports.Add(new TensorReport(name, QuantizationReport.GroupOf(name), stored.DType, stored.Shape, stored.ByteLength, after,
                    converted?.Scheme ?? view.DType.ToString().ToLowerInvariant(), converted is not null));
                options.Progress?.Invoke(i + 1, names.Length, name);
            }

            if (!reports.Any(r => r.Converted))
            {
                throw new QuantSharpException($"{source}: no tensor was selected for quantization (check --include/--exclude)");
            }

            writer.Metadata["quantized_by"] = "quantsharp";
            options.Cancellation.ThrowIfCancellationRequested();
            writer.Commit(weightsPath);
        }

        QuantizationConfig? config = null;
        if (specs.Count > 0)
        {
            // One scheme: a plain block. Several (a mixed-precision plan): the most common one plus per-module schemes.
            var distinct = specs.Values.GroupBy(s => s).OrderByDescending(g => g.Count()).ToList();
            config = new QuantizationConfig(distinct[0].Key, modules, distinct.Count > 1 ? specs : null);
        }
        WriteConfig(folder.File("config.json"), configJson, config);
        if (Directory.Exists(source))
        {
            CopyOtherFiles(source, folder.TempPath);
        }

        long fileBytes = new FileInfo(weightsPath).Length;
        options.Cancellation.ThrowIfCancellationRequested();
        folder.Commit();
        return new QuantizationReport(folder.Target, reports, config, fileBytes, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The usual converter: <paramref name="format"/> for every tensor <paramref name="selector"/> selects, null for the rest.</summary>
    public static TensorConverter Convert(TensorSelector selector, WeightFormat format)
    {
        ArgumentNullException.ThrowIfNull(selector);
        ArgumentNullException.ThrowIfNull(format);
        return (name, view) => selector.IsSelected(name, view) ? format.Convert(view) : null;
    }

    /// <summary>
    /// <see cref="Convert(TensorSelector, WeightFormat)"/> with round-to-nearest under <paramref name="importance"/>
    /// (<see cref="WeightFormat.Convert(TensorView, float[])"/>): a tensor's entry is looked up by its name, then by its
    /// llama.cpp name (<see cref="GgufTensorNames"/>, so an imatrix made by llama-imatrix on the GGUF export applies).
    /// </summary>
    /// <exception cref="QuantSharpException">(When converting) a selected tensor has no entry under either name.</exception>
    public static TensorConverter Convert(TensorSelector selector, WeightFormat format, ImportanceMatrix importance, IReadOnlyDictionary<string, string> ggufNames, string importanceSource)
    {
        ArgumentNullException.ThrowIfNull(selector);
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(importance);
        ArgumentNullException.ThrowIfNull(ggufNames);
        return (name, view) =>
        {
            if (!selector.IsSelected(name, view))
            {
                return null;
            }

            float[] a = importance.MeanSquares(name, ggufNames)
                ?? throw new QuantSharpException($"{importanceSource}: the importance matrix has no entry for '{name}'{(ggufNames.TryGetValue(name, out string? g) ? $" (nor '{g}')" : "")}");
            return format.Convert(view, a);
        };
    }

    /// <summary>
    /// The default selector for a checkpoint: when its <c>config.json</c> names an architecture QuantSharp runs, the block
    /// linear weights of <see cref="ArchitectureSpec.BlockLinearNames"/>; otherwise the name rule of <see cref="TensorSelector"/>.
    /// </summary>
    /// <exception cref="QuantSharpException">An include pattern matches no 2-D float tensor of the checkpoint, or a pattern is invalid.</exception>
    public static TensorSelector DefaultSelector(string source, IEnumerable<string>? include = null, IEnumerable<string>? exclude = null)
    {
        IEnumerable<string>? names = null;
        string configPath = Path.Combine(source, "config.json");
        if (Directory.Exists(source) && File.Exists(configPath))
        {
            names = TryBlockLinearNames(File.ReadAllText(configPath), configPath);
        }

        TensorSelector selector = TensorSelector.Create(include, exclude, names);
        using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(source);
        selector.Select(checkpoint.Tensors); // an include pattern that matches nothing is an error, not an empty selection
        return selector;
    }

    private static bool HasQuantizationConfig(string configJson, string path)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(configJson);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("quantization_config", out _);
        }
        catch (JsonException e)
        {
            throw new QuantSharpException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    private static IEnumerable<string>? TryBlockLinearNames(string configJson, string path)
    {
        ModelConfig config;
        try
        {
            config = ModelConfig.Parse(configJson, path);
        }
        catch (Exception e) when (e is QuantSharpException or JsonException)
        {
            return null; // Not a decoder config (a diffusion transformer's, say): fall back to the name rule.
        }

        return ArchitectureSpec.Supported.Contains(config.Architecture)
            ? ArchitectureSpec.For(config).BlockLinearNames(config.Layers).ToList()
            : null;
    }

    private static long WriteOne(SafetensorsWriter writer, string name, TensorView view, ILinearWeight? converted, Dictionary<string, QuantSpec> specs, List<string> modules)
    {
        if (converted is null)
        {
            writer.Add(view, name);
            return view.ByteLength;
        }

        if (view.Shape.Length != 2 || converted.Rows != view.Shape[0] || converted.Cols != view.Shape[1])
        {
            throw new QuantSharpException($"tensor '{name}' is {view.ShapeText} but the converter returned a {converted.Rows}×{converted.Cols} weight");
        }

        switch (converted)
        {
            case PackedLinear packed:
                QuantizedLinear.Write(writer, name, packed);
                modules.Add(QuantizedLinear.Prefix(name));
                specs[QuantizedLinear.Prefix(name)] = packed.Spec;
                return packed.BytesInMemory;
            case DenseLinear dense:
                writer.Add(dense.View, name);
                return dense.View.ByteLength;
            default:
                throw new QuantSharpException($"tensor '{name}': the converter returned a {converted.GetType().Name}, which this layout cannot store");
        }
    }

    private static void CheckPaths(string source, string outFolder)
    {
        string src = Path.GetFullPath(Path.TrimEndingDirectorySeparator(source));
        string dst = Path.GetFullPath(Path.TrimEndingDirectorySeparator(outFolder));
        if (!Directory.Exists(src) && !File.Exists(src))
        {
            throw new QuantSharpException($"{source}: no such checkpoint folder or file");
        }

        if (src == dst || src.StartsWith(dst + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new QuantSharpException($"{outFolder}: the output folder must not be the source or contain it");
        }
    }

    private static void CheckSource(SafetensorsCheckpoint checkpoint, IReadOnlyDictionary<string, float[]>? replaced)
    {
        string? packed = checkpoint.Tensors.Keys.FirstOrDefault(k => k.EndsWith("." + QuantizedLinear.MetaSuffix, StringComparison.Ordinal));
        if (packed is not null)
        {
            throw new QuantSharpException($"{checkpoint.Location}: tensor '{packed}' is already a packed QuantSharp weight; quantize the original checkpoint");
        }

        foreach ((string name, float[] values) in replaced ?? new Dictionary<string, float[]>())
        {
            if (!checkpoint.Tensors.TryGetValue(name, out TensorView? view))
            {
                throw new QuantSharpException($"replaced tensor '{name}' is not in {checkpoint.Location}");
            }

            if (view.ElementCount != values.Length)
            {
                throw new QuantSharpException($"replaced tensor '{name}' has {values.Length} values; the source's is {view.ShapeText}");
            }
        }
    }

    private static void WriteConfig(string path, string? sourceJson, QuantizationConfig? config)
    {
        if (sourceJson is null && config is null)
        {
            return;
        }

        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        writer.WriteStartObject();
        if (sourceJson is not null)
        {
            using JsonDocument doc = JsonDocument.Parse(sourceJson);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new QuantSharpException("config.json of the source is not a JSON object");
            }

            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                if (p.Name != "quantization_config")
                {
                    p.WriteTo(writer);
                }
            }
        }

        if (config is not null)
        {
            writer.WritePropertyName("quantization_config");
            config.WriteTo(writer);
        }

        writer.WriteEndObject();
    }

    private static void CopyOtherFiles(string sourceFolder, string destination)
    {
        foreach (string file in Directory.EnumerateFiles(sourceFolder))
        {
            string name = Path.GetFileName(file);
            if (name == "config.json" || name.EndsWith(".safetensors.index.json", StringComparison.Ordinal)
                || s_weightExtensions.Any(e => name.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            File.Copy(file, Path.Combine(destination, name));
        }

        // Pipeline subfolders a checkpoint ships (sentence-transformers' 1_Pooling/, 2_Normalize/): small files, no weights.
        foreach (string folder in Directory.EnumerateDirectories(sourceFolder))
        {
            string[] files = Directory.GetFiles(folder);
            if (files.Length == 0 || files.Length > 16 || Directory.EnumerateDirectories(folder).Any()
                || files.Any(f => s_weightExtensions.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase)) || new FileInfo(f).Length > (1 << 20)))
            {
                continue;
            }

            string target = Path.Combine(destination, Path.GetFileName(folder));
            Directory.CreateDirectory(target);
            foreach (string file in files)
            {
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
            }
        }
    }
}
