namespace QuantSharp.Formats.Gguf;

/// <summary>What is wrong with a GGUF file (or with a request made of one).</summary>
public enum GgufError
{
    /// <summary>The data ends inside a header field, a metadata value, a tensor info or the padding before the data.</summary>
    Truncated,
    /// <summary>The file does not start with the magic bytes "GGUF".</summary>
    BadMagic,
    /// <summary>A version other than 2 or 3 (version 1 used 32-bit counts; a byte-swapped version means big-endian).</summary>
    UnsupportedVersion,
    /// <summary>A tensor, metadata or array count larger than the rest of the file could possibly hold.</summary>
    CountTooLarge,
    /// <summary>A string length past the end of the file or above the 1 GiB cap.</summary>
    StringTooLong,
    /// <summary>A metadata value type id that GGUF does not define.</summary>
    UnknownValueType,
    /// <summary>Arrays nested deeper than <see cref="GgufFile.MaxArrayNesting"/>.</summary>
    NestingTooDeep,
    /// <summary>The same metadata key twice.</summary>
    DuplicateKey,
    /// <summary><c>general.alignment</c> is not a u32 power of two.</summary>
    BadAlignment,
    /// <summary>A tensor with fewer than 1 or more than 4 dimensions.</summary>
    BadDimensionCount,
    /// <summary>A dimension above 2⁶³ − 1, an element count or byte size that overflows, or a row length that is not a
    /// multiple of the type's block size.</summary>
    BadShape,
    /// <summary>A tensor type id this reader does not know.</summary>
    UnknownTensorType,
    /// <summary>The same tensor name twice.</summary>
    DuplicateTensor,
    /// <summary>Tensor data that starts or ends outside the data section.</summary>
    TensorOutOfRange,
    /// <summary>A tensor offset that is not a multiple of the file's alignment.</summary>
    TensorMisaligned,
    /// <summary>Two tensors whose bytes overlap.</summary>
    TensorOverlap,
    /// <summary>A requested metadata key or tensor is absent.</summary>
    Missing,
    /// <summary>A metadata value or tensor does not have the type the caller asked for.</summary>
    WrongType,
    /// <summary>A tensor type that has no dequantizer or kernel here.</summary>
    UnsupportedTensorType,
}

/// <summary>A malformed GGUF file or an unsatisfiable request of one: names the file, the key or tensor, and the problem.</summary>
public sealed class GgufException : QuantSharpException
{
    /// <summary>Creates the exception.</summary>
    public GgufException(GgufError error, string path, string? item, string problem)
        : base(item is null ? $"{path}: {problem}" : $"{path}: '{item}': {problem}")
    {
        Error = error;
        FilePath = path;
        Item = item;
    }

    /// <summary>The category of the problem.</summary>
    public GgufError Error { get; }

    /// <summary>The file (or the name given to in-memory data).</summary>
    public string FilePath { get; }

    /// <summary>The metadata key or tensor name the problem is in, or null for a file-level problem.</summary>
    public string? Item { get; }
}
