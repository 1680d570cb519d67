using System.Runtime.InteropServices;

namespace QuantSharp.Kernels;

/// <summary>
/// Key/value cache: for each layer and KV head a contiguous [position, headDim] buffer, so attention over one head
/// streams memory in order. Allocated once per session (native, 64-byte aligned).
/// </summary>
internal sealed unsafe class KvCache : IDisposable
{
    private float* _keys;
    private float* _values;

    /// <summary>Allocates the cache.</summary>
    public KvCache(int layers, int kvHeads, int headDim, int maxPositions)
    {
        Layers = layers;
        KvHeads = kvHeads;
        HeadDim = headDim;
        MaxPositions = maxPositions;
        nuint bytes = (nuint)((long)layers * kvHeads * maxPositions * headDim * sizeof(float));
        _keys = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        _values = (float*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(_keys, bytes);
        NativeMemory.Clear(_values, bytes);
    }

    /// <summary>Layers covered.</summary>
    public int Layers { get; }

    /// <summary>KV heads per layer.</summary>
    public int KvHeads { get; }

    /// <summary>Head dimension.</summary>
    public int HeadDim { get; }

    /// <summary>Capacity in positions.</summary>
    public int MaxPositions { get; }

    /// <summary>Bytes held.</summary>
    public long Bytes => 2L * Layers * KvHeads * MaxPositions * HeadDim * sizeof(float);

    /// <summary>Start of the [position, headDim] key buffer of a layer's head.</summary>
    public float* Keys(int layer, int head) => _keys + ((long)layer * KvHeads + head) * MaxPositions * HeadDim;

    /// <summary>Start of the [position, headDim] value buffer of a layer's head.</summary>
    public float* Values(int layer, int head) => _values + ((long)layer * KvHeads + head) * MaxPositions * HeadDim;

    /// <summary>Stores the keys and values of one position (kvHeads × headDim each).</summary>
    public void Store(int layer, int position, ReadOnlySpan<float> k, ReadOnlySpan<float> v)
    {
        if ((uint)position >= (uint)MaxPositions)
        {
            throw new ArgumentOutOfRangeException(nameof(position), $"position {position} is past the cache's {MaxPositions} positions");
        }

        for (int h = 0; h < KvHeads; h++)
        {
            k.Slice(h * HeadDim, HeadDim).CopyTo(new Span<float>(Keys(layer, h) + (long)position * HeadDim, HeadDim));
            v.Slice(h * HeadDim, HeadDim).CopyTo(new Span<float>(Values(layer, h) + (long)position * HeadDim, HeadDim));
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_keys != null)
        {
            NativeMemory.AlignedFree(_keys);
            NativeMemory.AlignedFree(_values);
            _keys = null;
            _values = null;
        }
    }
}
