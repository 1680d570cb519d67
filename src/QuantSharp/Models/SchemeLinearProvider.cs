using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using QuantSharp.Formats;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Models;

/// <summary>
/// Hands out every linear weight of a dense checkpoint in one storage scheme chosen at load time: a float dtype
/// (<c>f32</c>, <c>f16</c>, <c>bf16</c>; a view over the memory map when the checkpoint already has it, else a
/// converted copy) or a quantization scheme (<c>int8</c>, <c>int4</c>, <c>nf4</c>, <c>ternary</c> or any
/// <see cref="QuantSpec.Name"/>, quantized with round-to-nearest) or a GGUF block type with a direct kernel (<c>q8_0</c>,
/// <c>q4_0</c>, <c>q4_k</c>, <c>q6_k</c>, <c>tq2_0</c>, quantized with llama.cpp's reference quantizers). All weights are prepared up front in parallel, so a
/// 1B-parameter model quantizes in seconds. The LM head is converted too (decode streams it every token); the embedding
/// stays as stored unless the head is tied to it.
/// </summary>
public sealed class SchemeLinearProvider : ILinearProvider
{
    private readonly IWeightSource _source;
    private readonly ConcurrentDictionary<string, ILinearWeight> _weights = new(StringComparer.Ordinal);

    /// <summary>Prepares every linear weight of <paramref name="config"/> from <paramref name="source"/> in <paramref name="scheme"/>.</summary>
    /// <exception cref="QuantSharpException">An unknown scheme, or a weight that is not a 2-D float tensor.</exception>
    public SchemeLinearProvider(ModelConfig config, IWeightSource source, string scheme, int parallelism = 0)
    {
        _source = source;
        Scheme = scheme;
        Func<TensorView, ILinearWeight> convert = Converter(scheme);
        ArchitectureSpec spec = ArchitectureSpec.For(config);
        var names = spec.BlockLinearNames(config.Layers).ToList();
        if (spec.LmHead is not null)
        {
            names.Add(config.TieWordEmbeddings ? spec.Embedding : spec.LmHead);
        }
        var options = new ParallelOptions { MaxDegreeOfParallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount };
        Parallel.ForEach(names.Where(source.Tensors.ContainsKey), options, name => _weights[name] = convert(source.Tensors[name]));
    }

    /// <summary>The scheme every linear weight is held in.</summary>
    public string Scheme { get; }

    /// <inheritdoc />
    public ILinearWeight Get(string tensorName)
    {
        if (_weights.TryGetValue(tensorName, out ILinearWeight? w))
        {
            return w;
        }

        return _source.Tensors.TryGetValue(tensorName, out TensorView? view)
            ? new DenseLinear(view)
            : throw new QuantSharpException($"{_source.Location}: tensor '{tensorName}' is missing");
    }

    /// <inheritdoc />
    public bool Has(string tensorName) => _weights.ContainsKey(tensorName) || _source.Tensors.ContainsKey(tensorName);

    /// <summary>The conversion for <paramref name="scheme"/>.</summary>
    /// <exception cref="QuantSharpException">An unknown scheme.</exception>
    public static Func<TensorView, ILinearWeight> Converter(string scheme)
    {
        switch (scheme.ToLowerInvariant())
        {
            case "f32":
                return v => Dense(v, DType.F32);
            case "f16":
                return v => Dense(v, DType.F16);
            case "bf16":
                return v => Dense(v, DType.BF16);
        }

        if (GgmlTypeInfo.TryParse(scheme, out GgmlType ggml) && GgufKernels.HasDirectKernel(ggml))
        {
            return v => GgufLinear.Quantize(v, ggml);
        }

        QuantSpec spec = QuantSpec.ParseName(scheme);
        return v => QuantizedLinear.Quantize(v, spec);
    }

    private static DenseLinear Dense(TensorView view, DType dtype)
    {
        if (view.DType == dtype)
        {
            return new DenseLinear(view);
        }

        float[] values = view.ToFloatArray();
        byte[] bytes = dtype switch
        {
            DType.F32 => MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
            DType.F16 => ToHalf(values),
            _ => ToBFloat16(values),
        };
        return new DenseLinear(TensorView.FromBytes(view.Name, dtype, view.Shape, bytes));
    }

    private static byte[] ToHalf(float[] values)
    {
        var half = new Half[values.Length];
        System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values, half);
        return MemoryMarshal.AsBytes(half.AsSpan()).ToArray();
    }

    private static byte[] ToBFloat16(float[] values)
    {
        var bits = new ushort[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            bits[i] = BFloat16.FromSingle(values[i]);
        }

        return MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
    }
}
