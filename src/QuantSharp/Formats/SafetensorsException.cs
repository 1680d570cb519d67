namespace QuantSharp.Formats;

/// <summary>What is wrong with a safetensors file.</summary>
public enum SafetensorsError
{
    /// <summary>The file is shorter than its 8-byte header length prefix, or than the header says.</summary>
    Truncated,
    /// <summary>The header length is zero, past the end of the file, or above the sanity cap.</summary>
    HeaderLength,
    /// <summary>The header is not well-formed JSON or not a JSON object of tensor entries.</summary>
    BadJson,
    /// <summary>A tensor entry lacks a field or has one of the wrong type.</summary>
    BadEntry,
    /// <summary>A dtype this reader does not know.</summary>
    UnknownDType,
    /// <summary>data_offsets outside the data section or reversed.</summary>
    OffsetsOutOfRange,
    /// <summary>Two tensors share bytes.</summary>
    Overlap,
    /// <summary>shape × dtype size differs from the byte length.</summary>
    ByteCountMismatch,
    /// <summary>A sharded index names a missing file or a tensor its shard lacks.</summary>
    BadIndex,
}

/// <summary>A malformed safetensors file: names the file, the tensor (if any) and the problem.</summary>
public sealed class SafetensorsException : QuantSharpException
{
    /// <summary>Creates the exception.</summary>
    public SafetensorsException(SafetensorsError error, string path, string? tensor, string problem)
        : base(tensor is null ? $"{path}: {problem}" : $"{path}: tensor '{tensor}': {problem}")
    {
        Error = error;
        FilePath = path;
        Tensor = tensor;
    }

    /// <summary>The category of the problem.</summary>
    public SafetensorsError Error { get; }

    /// <summary>The file that is malformed.</summary>
    public string FilePath { get; }

    /// <summary>The tensor the problem is in, or null for a file-level problem.</summary>
    public string? Tensor { get; }
}
