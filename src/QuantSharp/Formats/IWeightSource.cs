using QuantSharp.Tensors;

namespace QuantSharp.Formats;

/// <summary>A set of named tensors read from disk (safetensors folder, GGUF file, quantized folder). Knows bytes, not models.</summary>
public interface IWeightSource : IDisposable
{
    /// <summary>Where the weights came from (folder or file path), for messages.</summary>
    string Location { get; }

    /// <summary>All tensors by name.</summary>
    IReadOnlyDictionary<string, TensorView> Tensors { get; }

    /// <summary>String metadata (safetensors <c>__metadata__</c>, merged over shards).</summary>
    IReadOnlyDictionary<string, string> Metadata { get; }
}
