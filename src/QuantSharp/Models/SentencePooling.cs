using System.Numerics.Tensors;
using System.Text.Json;

namespace QuantSharp.Models;

/// <summary>How token states become one sentence vector (sentence-transformers' <c>Pooling</c> modes).</summary>
public enum PoolingMode
{
    /// <summary>Mean over the sequence's tokens.</summary>
    Mean,

    /// <summary>The first token's state ([CLS]).</summary>
    Cls,

    /// <summary>Element-wise maximum over the tokens.</summary>
    Max,

    /// <summary>The last token's state (decoder embedders).</summary>
    LastToken,

    /// <summary>Sum over the tokens divided by √tokens.</summary>
    MeanSqrtLength,
}

/// <summary>
/// The sentence-transformers pipeline after the transformer, read from the files a checkpoint ships: the pooling mode
/// (<c>modules.json</c> → the <c>Pooling</c> module's <c>config.json</c>), whether a <c>Normalize</c> module follows,
/// and the truncation length (<c>sentence_bert_config.json</c>'s <c>max_seq_length</c>).
/// </summary>
public sealed record SentencePooling
{
    /// <summary>Pooling mode.</summary>
    public PoolingMode Mode { get; init; } = PoolingMode.Mean;

    /// <summary>L2-normalize the pooled vector (a <c>Normalize</c> module; divides by max(‖v‖, 1e-12)).</summary>
    public bool Normalize { get; init; }

    /// <summary>Longest token sequence (specials included); longer texts are truncated. Null: the model's context.</summary>
    public int? MaxSequenceLength { get; init; }

    /// <summary>Where the settings came from (<c>modules.json</c>, or a default).</summary>
    public string Source { get; init; } = "default";

    /// <summary>Reads the pipeline files of <paramref name="folder"/>; without <c>modules.json</c> the default is mean
    /// pooling without normalization (Hugging Face feature extraction averaged).</summary>
    /// <exception cref="QuantSharpException">A malformed pipeline file, or a pooling mode this build does not run.</exception>
    public static SentencePooling Load(string folder)
    {
        string modules = Path.Combine(folder, "modules.json");
        int? maxLength = ReadMaxLength(Path.Combine(folder, "sentence_bert_config.json"));
        if (!File.Exists(modules))
        {
            return new SentencePooling { MaxSequenceLength = maxLength };
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(modules));
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw new QuantSharpException($"{modules}: expected a JSON array of modules");
            }

            PoolingMode mode = PoolingMode.Mean;
            bool normalize = false;
            foreach (JsonElement m in doc.RootElement.EnumerateArray())
            {
                string type = m.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
                string path = m.TryGetProperty("path", out JsonElement p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "";
                if (type.EndsWith(".Pooling", StringComparison.Ordinal))
                {
                    mode = ReadMode(Path.Combine(folder, path, "config.json"));
                }
                else if (type.EndsWith(".Normalize", StringComparison.Ordinal))
                {
                    normalize = true;
                }
                else if (!type.EndsWith(".Transformer", StringComparison.Ordinal))
                {
                    throw new QuantSharpException($"{modules}: module '{type}' is not supported (supported: Transformer, Pooling, Normalize)");
                }
            }

            return new SentencePooling { Mode = mode, Normalize = normalize, MaxSequenceLength = maxLength, Source = modules };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a value of the wrong JSON type, or a string that is not valid UTF-8.
            throw new QuantSharpException($"{modules}: not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>Pools <paramref name="tokens"/> rows of <paramref name="states"/> (tokens × width) into <paramref name="destination"/>.</summary>
    public void Pool(ReadOnlySpan<float> states, int tokens, Span<float> destination)
    {
        int width = destination.Length;
        switch (Mode)
        {
            case PoolingMode.Cls:
                states[..width].CopyTo(destination);
                break;
            case PoolingMode.LastToken:
                states.Slice((tokens - 1) * width, width).CopyTo(destination);
                break;
            case PoolingMode.Max:
                states[..width].CopyTo(destination);
                for (int t = 1; t < tokens; t++)
                {
                    TensorPrimitives.Max(destination, states.Slice(t * width, width), destination);
                }

                break;
            default:
                destination.Clear();
                for (int t = 0; t < tokens; t++)
                {
                    TensorPrimitives.Add(destination, states.Slice(t * width, width), destination);
                }

                TensorPrimitives.Divide(destination, Mode == PoolingMode.MeanSqrtLength ? MathF.Sqrt(tokens) : tokens, destination);
                break;
        }

        if (Normalize)
        {
            TensorPrimitives.Divide(destination, MathF.Max(TensorPrimitives.Norm(destination), 1e-12f), destination);
        }
    }

    private static PoolingMode ReadMode(string path)
    {
        if (!File.Exists(path))
        {
            throw new QuantSharpException($"{path}: the Pooling module's config.json is missing");
        }

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
        JsonElement root = doc.RootElement;
        bool On(string name) => root.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.True;
        var modes = new List<PoolingMode>();
        if (On("pooling_mode_cls_token")) { modes.Add(PoolingMode.Cls); }
        if (On("pooling_mode_mean_tokens")) { modes.Add(PoolingMode.Mean); }
        if (On("pooling_mode_max_tokens")) { modes.Add(PoolingMode.Max); }
        if (On("pooling_mode_mean_sqrt_len_tokens")) { modes.Add(PoolingMode.MeanSqrtLength); }
        if (On("pooling_mode_lasttoken")) { modes.Add(PoolingMode.LastToken); }
        if (On("pooling_mode_weightedmean_tokens"))
        {
            throw new QuantSharpException($"{path}: pooling_mode_weightedmean_tokens is not supported");
        }

        return modes.Count == 1 ? modes[0]
            : throw new QuantSharpException($"{path}: {(modes.Count == 0 ? "no pooling mode is on" : "several pooling modes are on (their concatenation is not supported)")}");
    }

    private static int? ReadMaxLength(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("max_seq_length", out JsonElement e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) && v > 0 ? v : null;
        }
        catch (JsonException e)
        {
            throw new QuantSharpException($"{path}: not valid JSON ({e.Message})", e);
        }
    }
}
