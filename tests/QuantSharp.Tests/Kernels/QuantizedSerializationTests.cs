using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tensors;
using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Kernels;

/// <summary>Save → memory-mapped reload gives identical outputs; damaged files give clear errors.</summary>
public sealed class QuantizedSerializationTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"qs-quant-{Guid.NewGuid():N}");

    public QuantizedSerializationTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Save(string weightName, ILinearWeight w, Action<SafetensorsWriter>? extra = null)
    {
        string path = Path.Combine(_dir, $"{Guid.NewGuid():N}.safetensors");
        using var writer = new SafetensorsWriter(_dir);
        QuantizedLinear.Write(writer, weightName, w);
        extra?.Invoke(writer);
        writer.Commit(path);
        return path;
    }

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void SaveReload_IdenticalOutputs(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        const string name = "model.layers.0.mlp.down_proj.weight";
        int rows = 23, cols = 172;
        PackedLinear original = QuantizedLinear.Quantize(name, QuantTestData.Random(rows, cols, 2), rows, cols, spec);
        string path = Save(name, original);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.True(QuantizedLinear.IsQuantized(name, file.Tensors));
        Assert.Contains("model.layers.0.mlp.down_proj.qweight", file.Tensors.Keys);
        Assert.Contains("model.layers.0.mlp.down_proj.qmeta", file.Tensors.Keys);
        PackedLinear loaded = QuantizedLinear.Load(name, file.Tensors);
        Assert.Equal(original.Spec, loaded.Spec);
        Assert.Equal((rows, cols), (loaded.Rows, loaded.Cols));
        Assert.Equal(original.BytesInMemory, loaded.BytesInMemory);

        // The loaded weight reads the mapped bytes in place.
        TensorView qweight = file.Tensors["model.layers.0.mlp.down_proj.qweight"];
        unsafe
        {
            Assert.True(loaded.Packed.Parts["qweight"].Pointer == qweight.Pointer);
        }

        int tokens = 3;
        float[] x = QuantTestData.Random(tokens, cols, 5);
        float[] a = new float[tokens * rows], b = new float[tokens * rows];
        original.MatMul(x, tokens, a);
        loaded.MatMul(x, tokens, b);
        Assert.Equal(a, b);
        float[] ra = new float[cols], rb = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            original.DequantizeRow(r, ra);
            loaded.DequantizeRow(r, rb);
            Assert.Equal(ra, rb);
        }
    }

    [Theory]
    [InlineData("int8")]
    [InlineData("int4-g64-asym")]
    [InlineData("nf4-dq")]
    [InlineData("ternary-g32")]
    public void TruncatedPackedTensor_ClearError(string specName)
    {
        const string name = "blk.attn.weight";
        PackedLinear w = QuantizedLinear.Quantize(name, QuantTestData.Random(8, 100, 1), 8, 100, QuantSpec.ParseName(specName));

        // Rewrite the file with qweight cut to 7 rows, as a truncated export would leave it.
        string path = Path.Combine(_dir, "cut.safetensors");
        using (var writer = new SafetensorsWriter(_dir))
        {
            foreach ((string suffix, TensorView v) in w.Packed.Parts)
            {
                long[] shape = (long[])v.Shape.Clone();
                ReadOnlySpan<byte> bytes = v.Bytes;
                if (suffix == "qweight")
                {
                    shape[0] = 7;
                    bytes = bytes[..(int)(bytes.Length / 8 * 7)];
                }

                writer.Add($"blk.attn.{suffix}", v.DType, shape, bytes);
            }

            int[] meta = [1, (int)w.Spec.Kind, 8, 100, w.Spec.GroupSize, w.Spec.Symmetric ? 1 : 0, w.Spec.DoubleQuant ? 1 : 0, (int)w.Spec.Granularity];
            writer.Add("blk.attn.qmeta", DType.I32, [8], System.Runtime.InteropServices.MemoryMarshal.AsBytes(meta.AsSpan()));
            writer.Commit(path);
        }

        using SafetensorsFile file = SafetensorsFile.Open(path);
        var e = Assert.Throws<QuantSharpException>(() => QuantizedLinear.Load(name, file.Tensors));
        Assert.Contains("blk.attn.qweight", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void MissingPartOrMeta_ClearError()
    {
        PackedLinear w = QuantizedLinear.Quantize("a.weight", QuantTestData.Random(4, 64, 1), 4, 64, QuantSpec.Int4(32, false));
        string path = Save("a.weight", w);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        var without = file.Tensors.Where(p => p.Key != "a.zeros").ToDictionary();
        Assert.Contains("a.zeros", Assert.Throws<QuantSharpException>(() => QuantizedLinear.Load("a.weight", without)).Message);
        var noMeta = file.Tensors.Where(p => p.Key != "a.qmeta").ToDictionary();
        Assert.False(QuantizedLinear.IsQuantized("a.weight", noMeta));
        Assert.Contains("a.qmeta", Assert.Throws<QuantSharpException>(() => QuantizedLinear.Load("a.weight", noMeta)).Message);
    }

    [Fact]
    public void BadMeta_ClearError()
    {
        var tensors = new Dictionary<string, TensorView>
        {
            ["b.qmeta"] = TensorView.FromBytes("b.qmeta", DType.I32, [8], System.Runtime.InteropServices.MemoryMarshal.AsBytes<int>([1, 42, 4, 4, 0, 0, 0, 0])),
        };
        Assert.Contains("unknown scheme id 42", Assert.Throws<QuantSharpException>(() => QuantizedLinear.Load("b", tensors)).Message);
        tensors["b.qmeta"] = TensorView.FromBytes("b.qmeta", DType.I32, [8], System.Runtime.InteropServices.MemoryMarshal.AsBytes<int>([9, 1, 4, 4, 0, 0, 0, 0]));
        Assert.Contains("version 9", Assert.Throws<QuantSharpException>(() => QuantizedLinear.Load("b", tensors)).Message);
        tensors["b.qmeta"] = TensorView.FromBytes("b.qmeta", DType.I32, [8], System.Runtime.InteropServices.MemoryMarshal.AsBytes<int>([1, 2, 4, 4, 48, 0, 0, 0]));
        Assert.Contains("group size 48", Assert.Throws<QuantSharpException>(() => QuantizedLinear.Load("b", tensors)).Message);
    }

    [Fact]
    public void TensorNames_FollowPrefix()
    {
        PackedLinear w = QuantizedLinear.Quantize("m.up_proj.weight", QuantTestData.Random(2, 64, 1), 2, 64, QuantSpec.FourBitFloat(false, true));
        Assert.Equal(
            ["m.up_proj.absmax", "m.up_proj.absmax_offset", "m.up_proj.absmax_scale", "m.up_proj.qmeta", "m.up_proj.qweight"],
            QuantizedLinear.TensorNames("m.up_proj.weight", w).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void DenseWeight_CannotBeWrittenAsQuantized()
    {
        TensorView dense = TensorView.FromFloats("d.weight", [2, 2], [1, 2, 3, 4]);
        using var writer = new SafetensorsWriter(_dir);
        Assert.Throws<ArgumentException>(() => QuantizedLinear.Write(writer, "d.weight", new DenseLinear(dense)));
    }

    [Fact]
    public void QuantizeFromTensorView_MatchesSpan()
    {
        float[] values = QuantTestData.Random(6, 96, 3);
        TensorView view = TensorView.FromFloats("v.weight", [6, 96], values);
        PackedLinear a = QuantizedLinear.Quantize(view, QuantSpec.Int4());
        PackedLinear b = QuantizedLinear.Quantize("v.weight", values, 6, 96, QuantSpec.Int4());
        float[] ra = new float[96], rb = new float[96];
        a.DequantizeRow(5, ra);
        b.DequantizeRow(5, rb);
        Assert.Equal(rb, ra);
        Assert.Throws<QuantSharpException>(() => QuantizedLinear.Quantize(TensorView.FromFloats("n", [4], [1, 2, 3, 4]), QuantSpec.Int8()));
    }

    [Theory]
    [MemberData(nameof(QuantTestData.SpecNames), MemberType = typeof(QuantTestData))]
    public void QuantizationConfig_RoundTrips(string specName)
    {
        var config = new QuantizationConfig(QuantSpec.ParseName(specName), ["model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj"]);
        string json = $"{{\"model_type\": \"llama\", \"quantization_config\": {config.ToJson()}}}";
        QuantizationConfig back = QuantizationConfig.FromConfigJson(json)!;
        Assert.Equal(config.Spec, back.Spec);
        Assert.Equal(config.Modules, back.Modules);
        using JsonDocument doc = JsonDocument.Parse(json);
        Assert.Equal("quantsharp", doc.RootElement.GetProperty("quantization_config").GetProperty("quant_method").GetString());
        Assert.Equal(config.Spec.Bits, doc.RootElement.GetProperty("quantization_config").GetProperty("bits").GetInt32());
    }

    [Fact]
    public void QuantizationConfig_Errors()
    {
        Assert.Null(QuantizationConfig.FromConfigJson("{\"model_type\": \"llama\"}"));
        Assert.Contains("gptq", Assert.Throws<QuantSharpException>(() => QuantizationConfig.FromConfigJson("{\"quantization_config\": {\"quant_method\": \"gptq\"}}")).Message);
        Assert.Contains("int5", Assert.Throws<QuantSharpException>(() => QuantizationConfig.FromConfigJson("{\"quantization_config\": {\"quant_method\": \"quantsharp\", \"scheme\": \"int5\", \"modules\": []}}")).Message);
        Assert.Contains("bits", Assert.Throws<QuantSharpException>(() => QuantizationConfig.FromConfigJson("{\"quantization_config\": {\"quant_method\": \"quantsharp\", \"scheme\": \"int8\", \"bits\": 4, \"modules\": []}}")).Message);
        Assert.Throws<QuantSharpException>(() => QuantizationConfig.FromConfigJson("{not json"));
    }
}
