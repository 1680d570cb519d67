using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Models;

/// <summary>
/// Reads Hugging Face checkpoints saved by bitsandbytes in 4-bit (<c>quantization_config</c>: <c>quant_method</c>
/// "bitsandbytes", <c>load_in_4bit</c> true). Registered in <see cref="ModelLoader"/>'s quantized-checkpoint providers.
/// </summary>
/// <remarks>
/// For a linear weight <c>X.weight</c> of logical shape [out, in], bitsandbytes' <c>QuantState.as_dict(packed=True)</c> stores:
/// <list type="bullet">
/// <item><c>X.weight</c> U8 [⌈out·in/2⌉, 1]: the codes of the row-major flattened matrix, two per byte, the
/// <b>first in the high nibble</b>;</item>
/// <item><c>X.weight.absmax</c>: one scale per <c>blocksize</c> consecutive codes of the flattened matrix — F32, or with
/// double quantization U8 codes decoded as <c>nested_quant_map[code] · nested_absmax[i / nested_blocksize] + nested_offset</c>
/// (<c>X.weight.nested_absmax</c> F32, <c>X.weight.nested_quant_map</c> F32[256]);</item>
/// <item><c>X.weight.quant_map</c> F32[16]: the code book (NF4 or FP4 values);</item>
/// <item><c>X.weight.quant_state.bitsandbytes__nf4</c> (or <c>__fp4</c>) U8: UTF-8 JSON with <c>quant_type</c>,
/// <c>blocksize</c>, <c>dtype</c>, <c>shape</c> and, when nested, <c>nested_blocksize</c>, <c>nested_offset</c>.</item>
/// </list>
/// Weight = <c>quant_map[code] · absmax[i / blocksize]</c> (computed in F32; bitsandbytes then rounds to <c>dtype</c>).
/// An NF4 weight whose blocks of 64 lie within rows (in % 64 == 0) becomes QuantSharp's own NF4 layout without loss
/// (same code book, nibbles reordered, absmax decoded to F32); any other one is decoded to F32. Other tensors
/// (embeddings, norms, an unquantized LM head) are read as dense tensors.
/// </remarks>
public sealed class BitsAndBytesNf4Provider : ILinearProvider
{
    private const string StateInfix = ".quant_state.bitsandbytes__";
    private readonly IWeightSource _source;

    private BitsAndBytesNf4Provider(IWeightSource source) => _source = source;

    /// <summary>A provider when <paramref name="config"/>'s <c>quantization_config</c> is bitsandbytes 4-bit, else null.</summary>
    public static ILinearProvider? TryCreate(ModelConfig config, IWeightSource source)
    {
        if (config.QuantizationConfigJson is null)
        {
            return null;
        }

        using JsonDocument doc = JsonDocument.Parse(config.QuantizationConfigJson);
        JsonElement q = doc.RootElement;
        bool bnb = q.TryGetProperty("quant_method", out JsonElement m) && m.ValueKind == JsonValueKind.String && m.GetString() == "bitsandbytes";
        bool fourBit = ModelConfig.GetBool(q, "load_in_4bit") ?? false;
        if (!bnb)
        {
            return null;
        }

        if (!fourBit)
        {
            throw new QuantSharpException($"{source.Location}: bitsandbytes 8-bit (load_in_8bit) checkpoints are not supported; only 4-bit (load_in_4bit)");
        }

        return new BitsAndBytesNf4Provider(source);
    }

    /// <inheritdoc />
    public bool Has(string tensorName) => _source.Tensors.ContainsKey(tensorName);

    /// <inheritdoc />
    public ILinearWeight Get(string tensorName)
    {
        if (!_source.Tensors.TryGetValue(tensorName, out TensorView? weight))
        {
            throw new QuantSharpException($"{_source.Location}: tensor '{tensorName}' is missing");
        }

        return _source.Tensors.TryGetValue(tensorName + StateInfix + "nf4", out TensorView? state)
            || _source.Tensors.TryGetValue(tensorName + StateInfix + "fp4", out state)
            ? Decode(tensorName, weight, state)
            : new DenseLinear(weight);
    }

    private ILinearWeight Decode(string name, TensorView weight, TensorView stateBlob)
    {
        string where = $"{_source.Location}: '{name}'";
        QuantStateJson state = QuantStateJson.Parse(stateBlob.Bytes, where);
        (int rows, int cols) = (state.Rows, state.Cols);
        long count = (long)rows * cols;
        if (weight.DType != DType.U8 || weight.ByteLength != (count + 1) / 2)
        {
            throw new QuantSharpException($"{where}: expected U8 with {(count + 1) / 2} bytes for shape [{rows}, {cols}], found {weight.DType} {weight.ShapeText}");
        }

        long blocks = (count + state.BlockSize - 1) / state.BlockSize;
        float[] absmax = Absmax(name, blocks, state, where);
        float[] map = Require(name + ".quant_map", DType.F32, 16, where).ToFloatArray();
        ReadOnlySpan<byte> packed = weight.Bytes;

        bool nf4 = map.AsSpan().SequenceEqual(FourBitFloatScheme.Nf4Code);
        if (nf4 && state.BlockSize == QuantSpec.FourBitFloatBlock && cols % QuantSpec.FourBitFloatBlock == 0)
        {
            return ToQuantSharpNf4(name, rows, cols, packed, absmax);
        }

        float[] dense = new float[count];
        for (long i = 0; i < count; i++)
        {
            dense[i] = map[Code(packed, i)] * absmax[i / state.BlockSize];
        }

        return new DenseLinear(TensorView.FromFloats(name, [rows, cols], dense));
    }

    private static int Code(ReadOnlySpan<byte> packed, long i) => (i & 1) == 0 ? packed[(int)(i >> 1)] >> 4 : packed[(int)(i >> 1)] & 0xF;

    private static PackedLinear ToQuantSharpNf4(string name, int rows, int cols, ReadOnlySpan<byte> packed, float[] absmax)
    {
        QuantSpec spec = QuantSpec.FourBitFloat(fp4: false);
        int rowBytes = PackLayout.RowBytes4(cols);
        int rowBlocks = FourBitFloatScheme.Blocks(cols);
        byte[] q = QuantizedTensor.AllocatePinned((long)rows * rowBytes);
        byte[] scales = QuantizedTensor.AllocatePinned((long)rows * rowBlocks * 4);
        byte[] codes = new byte[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                codes[c] = (byte)Code(packed, (long)r * cols + c);
            }

            PackLayout.Pack4(codes, q.AsSpan(r * rowBytes, rowBytes), pad: 7);
        }

        MemoryMarshal.AsBytes(absmax.AsSpan()).CopyTo(scales);
        return QuantizedLinear.Create(new QuantizedTensor(name, spec, rows, cols,
            new QuantizedPart("qweight", DType.U8, [rows, rowBytes], q),
            new QuantizedPart("absmax", DType.F32, [rows, rowBlocks], scales)));
    }

    private float[] Absmax(string name, long blocks, QuantStateJson state, string where)
    {
        TensorView a = _source.Tensors.TryGetValue(name + ".absmax", out TensorView? v) ? v
            : throw new QuantSharpException($"{where}: tensor '{name}.absmax' is missing");
        if (a.ElementCount != blocks)
        {
            throw new QuantSharpException($"{where}: '{name}.absmax' has {a.ElementCount} values, expected {blocks} (one per block of {state.BlockSize})");
        }

        if (state.NestedBlockSize is not int nestedBlock)
        {
            if (a.DType is not (DType.F32 or DType.F16 or DType.BF16))
            {
                throw new QuantSharpException($"{where}: '{name}.absmax' is {a.DType}; without nested_blocksize it must be a float tensor");
            }

            return a.ToFloatArray();
        }

        if (a.DType != DType.U8)
        {
            throw new QuantSharpException($"{where}: '{name}.absmax' is {a.DType}; with double quantization it must be U8 codes");
        }

        long nestedBlocks = (blocks + nestedBlock - 1) / nestedBlock;
        float[] nestedAbsmax = Require(name + ".nested_absmax", DType.F32, nestedBlocks, where).ToFloatArray();
        float[] nestedMap = Require(name + ".nested_quant_map", DType.F32, 256, where).ToFloatArray();
        ReadOnlySpan<byte> codes = a.Bytes;
        float[] result = new float[blocks];
        for (long i = 0; i < blocks; i++)
        {
            result[i] = (nestedMap[codes[(int)i]] * nestedAbsmax[i / nestedBlock]) + state.NestedOffset;
        }

        return result;
    }

    private TensorView Require(string name, DType dtype, long elements, string where)
    {
        if (!_source.Tensors.TryGetValue(name, out TensorView? v))
        {
            throw new QuantSharpException($"{where}: tensor '{name}' is missing");
        }

        if (v.DType != dtype || v.ElementCount != elements)
        {
            throw new QuantSharpException($"{where}: tensor '{name}' is {v.DType} {v.ShapeText}, expected {dtype} with {elements} values");
        }

        return v;
    }

    /// <summary>The non-tensor part of a bitsandbytes <c>QuantState</c>.</summary>
    private sealed record QuantStateJson(int Rows, int Cols, int BlockSize, int? NestedBlockSize, float NestedOffset)
    {
        public static QuantStateJson Parse(ReadOnlySpan<byte> blob, string where)
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(Encoding.UTF8.GetString(blob));
                JsonElement r = doc.RootElement;
                string type = r.TryGetProperty("quant_type", out JsonElement t) ? t.GetString() ?? "" : "";
                if (type is not ("nf4" or "fp4"))
                {
                    throw new QuantSharpException($"{where}: quant_type '{type}' is not nf4 or fp4");
                }

                int[] shape = r.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                if (shape.Length != 2 || shape[0] <= 0 || shape[1] <= 0)
                {
                    throw new QuantSharpException($"{where}: quant_state shape [{string.Join(", ", shape)}] is not a 2-D weight");
                }

                int block = r.GetProperty("blocksize").GetInt32();
                if (block <= 0)
                {
                    throw new QuantSharpException($"{where}: blocksize {block} must be positive");
                }

                int? nested = ModelConfig.GetInt(r, "nested_blocksize");
                if (nested is <= 0)
                {
                    throw new QuantSharpException($"{where}: nested_blocksize {nested} must be positive");
                }

                return new QuantStateJson(shape[0], shape[1], block, nested, (float)(ModelConfig.GetDouble(r, "nested_offset") ?? 0));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
            {
                throw new QuantSharpException($"{where}: quant_state is not valid bitsandbytes JSON ({e.Message})", e);
            }
        }
    }
}
