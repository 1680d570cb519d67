using System.Runtime.InteropServices;

namespace QuantSharp.Formats.Gguf;

/// <summary>
/// Copies of GGUF tensors with their rows reordered (whole rows of packed blocks, bytes unchanged), in native memory
/// this object owns until it is disposed.
/// </summary>
public sealed unsafe class GgufRowPermutation : IDisposable
{
    private readonly List<nint> _owned = new();

    /// <summary>A tensor like <paramref name="tensor"/> whose row <c>r</c> is row <c>sourceRow(r)</c> of the original.</summary>
    /// <exception cref="GgufException"><paramref name="sourceRow"/> maps outside the tensor.</exception>
    public GgufTensorInfo Permute(GgufTensorInfo tensor, Func<int, int> sourceRow)
    {
        ObjectDisposedException.ThrowIf(_owned is null, this);
        long rows = tensor.RowCount, rowBytes = tensor.RowBytes;
        byte* copy = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, tensor.ByteLength), 64);
        _owned.Add((nint)copy);
        for (int r = 0; r < rows; r++)
        {
            int from = sourceRow(r);
            if ((ulong)from >= (ulong)rows)
            {
                throw new GgufException(GgufError.BadShape, tensor.File.Location, tensor.Name, $"row {r} maps to row {from} of {rows}");
            }

            Buffer.MemoryCopy(tensor.Pointer + from * rowBytes, copy + r * rowBytes, rowBytes, rowBytes);
        }

        return new GgufTensorInfo(tensor.File, tensor.Name, tensor.Type, tensor.Dimensions, tensor.Offset, tensor.ByteLength, tensor.ElementCount, copy);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (nint p in _owned)
        {
            NativeMemory.AlignedFree((void*)p);
        }

        _owned.Clear();
    }
}
