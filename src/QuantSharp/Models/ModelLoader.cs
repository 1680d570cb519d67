using QuantSharp.Tokenizers;
using QuantSharp.Formats;

namespace QuantSharp.Models;

/// <summary>A loaded model with its tokenizer (if the checkpoint has one).</summary>
public sealed class LoadedModel : IDisposable
{
    internal LoadedModel(TransformerModel model, Tokenizer? tokenizer, string path, long fileBytes)
    {
        Model = model;
        Tokenizer = tokenizer;
        Path = path;
        FileBytes = fileBytes;
    }

    /// <summary>The model.</summary>
    public TransformerModel Model { get; }

    /// <summary>The tokenizer, or null when the checkpoint ships none.</summary>
    public Tokenizer? Tokenizer { get; }

    /// <summary>Where it was loaded from.</summary>
    public string Path { get; }

    /// <summary>Bytes of the weight files on disk.</summary>
    public long FileBytes { get; }

    /// <summary>The tokenizer, or a clear error if the checkpoint has none.</summary>
    public Tokenizer RequireTokenizer() => Tokenizer
        ?? throw new QuantSharpException($"{Path}: no tokenizer (tokenizer.json, vocab.json + merges.txt, tokenizer.model or vocab.txt) in this checkpoint; pass token ids instead");

    /// <inheritdoc />
    public void Dispose() => Model.Dispose();
}

/// <summary>Options for <see cref="ModelLoader.Load"/>.</summary>
public sealed class LoadOptions
{
    /// <summary>Builds the provider of linear weights for a source (default: dense, or packed when the checkpoint is quantized).
    /// Load-time quantization plugs in here.</summary>
    public Func<ModelConfig, IWeightSource, ILinearProvider>? LinearProvider { get; init; }
}

/// <summary>Opens a checkpoint folder (config.json + safetensors + tokenizer) as a runnable model.</summary>
public static class ModelLoader
{
    /// <summary>Providers for quantized checkpoints, tried in order: each returns null if it does not recognise the config.</summary>
    private static readonly Func<ModelConfig, IWeightSource, ILinearProvider?>[] s_quantizedProviders = [QuantizedLinearProvider.TryCreate, HfQuantizedProvider.TryCreate, BitsAndBytesNf4Provider.TryCreate];

    /// <summary>Loaders for other file kinds (GGUF): each returns null if it does not handle the path.</summary>
    private static readonly Func<string, LoadOptions, LoadedModel?>[] s_fileLoaders = [GgufModelLoader.TryLoad];

    /// <summary>Loads <paramref name="path"/>.</summary>
    /// <exception cref="QuantSharpException">Missing or malformed files, unknown architecture, missing tensors.</exception>
    public static LoadedModel Load(string path, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        foreach (var loader in s_fileLoaders)
        {
            if (loader(path, options) is LoadedModel loaded)
            {
                return loaded;
            }
        }

        if (!Directory.Exists(path))
        {
            throw new QuantSharpException(File.Exists(path)
                ? $"{path}: not a checkpoint folder or a supported model file"
                : $"{path}: no such model folder");
        }

        ModelConfig config = ModelConfig.Load(path);
        _ = ArchitectureSpec.For(config); // an unknown architecture fails before any file is mapped
        SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(path);
        try
        {
            ArchitectureSpec spec = ArchitectureSpec.For(config, source);
            ILinearProvider linears = options.LinearProvider?.Invoke(config, source) ?? DefaultProvider(config, source);
            TransformerModel model = TransformerModel.Create(config, source, linears, source, spec);
            long bytes = source.Files.Sum(f => new FileInfo(f).Length);
            return new LoadedModel(model, LoadTokenizer(path), path, bytes);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>Dense weights, or the packed-weight provider matching the checkpoint's <c>quantization_config</c>.</summary>
    public static ILinearProvider DefaultProvider(ModelConfig config, IWeightSource source)
    {
        if (config.QuantizationConfigJson is null)
        {
            string? packed = source.Tensors.Keys.FirstOrDefault(k => k.EndsWith(".qmeta", StringComparison.Ordinal));
            return packed is null
                ? new DenseLinearProvider(source)
                : throw new QuantSharpException($"{source.Location}: tensor '{packed}' is a packed QuantSharp weight but config.json has no quantization_config; the folder is incomplete (re-run quantsharp quantize)");
        }

        foreach (var factory in s_quantizedProviders)
        {
            if (factory(config, source) is ILinearProvider p)
            {
                return p;
            }
        }

        throw new QuantSharpException($"{source.Location}: quantization_config {QuantMethodOf(config.QuantizationConfigJson)}is not a layout this build can load (known: quantsharp)");
    }

    private static string QuantMethodOf(string json)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            return doc.RootElement.TryGetProperty("quant_method", out var m) ? $"with quant_method {m.GetRawText()} " : "without a quant_method ";
        }
        catch (System.Text.Json.JsonException)
        {
            return "";
        }
    }

    /// <summary>The tokenizer in a checkpoint folder, or null if there is none.</summary>
    public static Tokenizer? LoadTokenizer(string folder)
    {
        return TokenizerLoader.TryLoad(folder);
    }
}
