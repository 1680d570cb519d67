using QuantSharp.Formats;

namespace QuantSharp.Models;

/// <summary>A loaded model with its tokenizer (if the checkpoint has one).</summary>
public sealed class LoadedModel : IDisposable
{
    internal LoadedModel(TransformerModel model, ITextTokenizer? tokenizer, string path, long fileBytes)
    {
        Model = model;
        Tokenizer = tokenizer;
        Path = path;
        FileBytes = fileBytes;
    }

    /// <summary>The model.</summary>
    public TransformerModel Model { get; }

    /// <summary>The tokenizer, or null when the checkpoint ships none.</summary>
    public ITextTokenizer? Tokenizer { get; }

    /// <summary>Where it was loaded from.</summary>
    public string Path { get; }

    /// <summary>Bytes of the weight files on disk.</summary>
    public long FileBytes { get; }

    /// <summary>The tokenizer, or a clear error if the checkpoint has none.</summary>
    public ITextTokenizer RequireTokenizer() => Tokenizer
        ?? throw new QuantSharpException($"{Path}: no tokenizer (tokenizer.model) in this checkpoint; pass token ids instead");

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
    public static List<Func<ModelConfig, IWeightSource, ILinearProvider?>> QuantizedProviders { get; } = [HfQuantizedProvider.TryCreate];

    /// <summary>Loaders for other file kinds (GGUF): each returns null if it does not handle the path.</summary>
    public static List<Func<string, LoadOptions, LoadedModel?>> FileLoaders { get; } = new();

    /// <summary>Loads <paramref name="path"/>.</summary>
    /// <exception cref="QuantSharpException">Missing or malformed files, unknown architecture, missing tensors.</exception>
    public static LoadedModel Load(string path, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        foreach (var loader in FileLoaders)
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
        ArchitectureSpec spec = ArchitectureSpec.For(config);
        SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(path);
        try
        {
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
            return new DenseLinearProvider(source);
        }

        foreach (var factory in QuantizedProviders)
        {
            if (factory(config, source) is ILinearProvider p)
            {
                return p;
            }
        }

        throw new QuantSharpException($"{source.Location}: quantization_config {config.QuantizationConfigJson} is not a layout this build can load");
    }

    /// <summary>The tokenizer in a checkpoint folder, or null if there is none.</summary>
    public static ITextTokenizer? LoadTokenizer(string folder)
    {
        string sp = System.IO.Path.Combine(folder, "tokenizer.model");
        return File.Exists(sp) ? SentencePieceBpeTokenizer.Load(sp, System.IO.Path.Combine(folder, "tokenizer_config.json")) : null;
    }
}
