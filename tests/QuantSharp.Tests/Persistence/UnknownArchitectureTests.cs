using System.Text.Json;
using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;
using QuantSharp.Tensors;
using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Persistence;

/// <summary>quantize on a checkpoint QuantSharp cannot run: a FLUX-style diffusion transformer written by the test.</summary>
public sealed class UnknownArchitectureTests : IDisposable
{
    private readonly TempDir _tmp = new();

    public void Dispose() => _tmp.Dispose();

    /// <summary>FLUX tensor names (black-forest-labs/flux layout) with small shapes; some F16/BF16, some non-2-D.</summary>
    internal static readonly (string Name, DType DType, long[] Shape)[] FluxTensors =
    [
        ("img_in.weight", DType.F32, [64, 32]),
        ("img_in.bias", DType.F32, [64]),
        ("time_in.in_layer.weight", DType.BF16, [64, 32]),
        ("time_in.out_layer.weight", DType.BF16, [64, 64]),
        ("double_blocks.0.img_attn.qkv.weight", DType.F32, [192, 64]),
        ("double_blocks.0.img_attn.qkv.bias", DType.F32, [192]),
        ("double_blocks.0.img_attn.norm.query_norm.scale", DType.F32, [16]),
        ("double_blocks.0.img_attn.proj.weight", DType.F32, [64, 64]),
        ("double_blocks.0.img_mlp.0.weight", DType.F16, [256, 64]),
        ("double_blocks.0.img_mlp.2.weight", DType.F16, [64, 256]),
        ("double_blocks.0.img_mod.lin.weight", DType.F32, [384, 64]),
        ("double_blocks.0.txt_attn.qkv.weight", DType.F32, [192, 64]),
        ("double_blocks.1.img_attn.qkv.weight", DType.F32, [192, 64]),
        ("double_blocks.1.img_mlp.0.weight", DType.F16, [256, 64]),
        ("single_blocks.0.linear1.weight", DType.F32, [448, 64]),
        ("single_blocks.0.linear2.weight", DType.F32, [64, 320]),
        ("single_blocks.0.norm.key_norm.scale", DType.F32, [16]),
        ("single_blocks.1.linear1.weight", DType.F32, [448, 64]),
        ("single_blocks.1.linear2.weight", DType.F32, [64, 320]),
        ("pos_embed.proj.weight", DType.F32, [64, 4, 2, 2]),
        ("txt_embedder.weight", DType.F32, [100, 64]),
        ("final_layer.norm_final.weight", DType.F32, [64, 64]),
        ("final_layer.linear.weight", DType.F32, [32, 64]),
        ("final_layer.adaLN_modulation.1.weight", DType.F32, [128, 64]),
    ];

    internal static string WriteFlux(string folder, bool withConfig, string? nanIn = null)
    {
        Directory.CreateDirectory(folder);
        using var writer = new SafetensorsWriter(folder);
        int seed = 0;
        foreach ((string name, DType dtype, long[] shape) in FluxTensors)
        {
            int n = (int)shape.Aggregate(1L, (a, b) => a * b);
            float[] v = QuantTestData.Random(1, n, ++seed);
            if (name == nanIn)
            {
                v[n / 2] = float.NaN;
            }

            byte[] bytes = dtype switch
            {
                DType.F32 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray(),
                DType.F16 => System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.Select(x => (Half)x).ToArray().AsSpan()).ToArray(),
                _ => System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.Select(BFloat16.FromSingle).ToArray().AsSpan()).ToArray(),
            };
            writer.Add(name, dtype, shape, bytes);
        }

        writer.Commit(Path.Combine(folder, "diffusion_pytorch_model.safetensors"));
        if (withConfig)
        {
            File.WriteAllText(Path.Combine(folder, "config.json"), """{"_class_name": "FluxTransformer2DModel", "_diffusers_version": "0.30.0", "in_channels": 64, "num_layers": 2, "num_single_layers": 2}""");
        }

        return folder;
    }

    /// <summary>The tensors the default name rule must pick: 2-D float '.weight', no embed/norm part.</summary>
    private static readonly string[] s_expected =
    [
        "double_blocks.0.img_attn.proj", "double_blocks.0.img_attn.qkv", "double_blocks.0.img_mlp.0", "double_blocks.0.img_mlp.2",
        "double_blocks.0.img_mod.lin", "double_blocks.0.txt_attn.qkv", "double_blocks.1.img_attn.qkv", "double_blocks.1.img_mlp.0",
        "final_layer.adaLN_modulation.1", "final_layer.linear", "img_in", "single_blocks.0.linear1", "single_blocks.0.linear2",
        "single_blocks.1.linear1", "single_blocks.1.linear2", "time_in.in_layer", "time_in.out_layer",
    ];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FluxCheckpoint_QuantizesLinearsKeepsTheRest(bool withConfig)
    {
        string source = WriteFlux(_tmp.File("flux"), withConfig);
        string output = _tmp.File("flux-int4");
        TensorSelector selector = QuantizedCheckpointWriter.DefaultSelector(source);
        Assert.False(selector.UsesArchitecture);
        QuantizationReport report = QuantizedCheckpointWriter.Write(source, output, QuantizedCheckpointWriter.Convert(selector, WeightFormat.Parse("int4")));

        using JsonDocument config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(withConfig, config.RootElement.TryGetProperty("_class_name", out JsonElement cls) && cls.GetString() == "FluxTransformer2DModel");
        QuantizationConfig q = QuantizationConfig.Read(config.RootElement.GetProperty("quantization_config"));
        Assert.Equal(s_expected, q.Modules);
        Assert.Equal(QuantSpec.Int4(128, false), q.Spec);

        // Report: one line per group; the qkv group holds both double blocks' image qkv.
        TensorGroupReport qkv = Assert.Single(report.Groups, g => g.Group == "double_blocks.*.img_attn.qkv.weight");
        Assert.Equal(2, qkv.Tensors);
        Assert.Equal(2 * 192 * 64 * 4, qkv.BytesBefore);
        // int4 g128 asym on 64 inputs: 2 chunks of 16 bytes per row of codes (32 B), one F16 scale and one zero byte per row.
        Assert.Equal(2 * 192 * (32 + 2 + 1), qkv.BytesAfter);
        Assert.Equal("int4-g128-asym", qkv.Storage);
        TensorGroupReport mlp0 = Assert.Single(report.Groups, g => g.Group == "double_blocks.*.img_mlp.*.weight");
        Assert.Equal(3, mlp0.Tensors);
        Assert.Equal(2 * (256 * 64 + 64 * 256) + 256 * 64 * 2, mlp0.BytesBefore);
        foreach (string kept in new[] { "pos_embed.proj.weight", "txt_embedder.weight", "final_layer.norm_final.weight", "img_in.bias", "single_blocks.*.norm.key_norm.scale" })
        {
            TensorGroupReport g = Assert.Single(report.Groups, g => g.Group == kept);
            Assert.Equal(g.BytesBefore, g.BytesAfter);
            Assert.Equal("f32", g.Storage);
        }

        Assert.Equal(report.Tensors.Where(t => !t.Converted).Sum(t => t.BytesBefore) + report.Tensors.Where(t => t.Converted).Sum(t => t.BytesAfter), report.BytesAfter);
        Assert.True(report.BytesAfter < report.BytesBefore / 2);

        // Same file format: every packed weight loads and matches the source within int4's bound.
        using SafetensorsCheckpoint src = SafetensorsCheckpoint.Open(source);
        using SafetensorsCheckpoint dst = SafetensorsCheckpoint.Open(output);
        foreach (string module in s_expected)
        {
            PackedLinear w = QuantizedLinear.Load(module + ".weight", dst.Tensors);
            TensorView original = src.Tensors[module + ".weight"];
            float[] dense = original.ToFloatArray();
            float[] row = new float[w.Cols];
            w.DequantizeRow(0, row);
            // Asymmetric int4 over one group (cols ≤ 128 here): step = (max − min) / 15; rounding the zero point to an
            // integer can add up to half a step at the clamped end, so allow one step.
            float[] first = dense[..w.Cols];
            float step = (Math.Max(first.Max(), 0) - Math.Min(first.Min(), 0)) / 15;
            for (int c = 0; c < w.Cols; c++)
            {
                Assert.True(Math.Abs(row[c] - dense[c]) <= step * 1.001f, $"{module}[0,{c}]: {row[c]} vs {dense[c]} (step {step})");
            }
        }

        foreach (string kept in new[] { "pos_embed.proj.weight", "txt_embedder.weight", "double_blocks.0.img_attn.norm.query_norm.scale" })
        {
            Assert.Equal(src.Tensors[kept].Bytes.ToArray(), dst.Tensors[kept].Bytes.ToArray());
            Assert.Equal(src.Tensors[kept].DType, dst.Tensors[kept].DType);
        }
    }

    [Fact]
    public void NanWeightMidway_LeavesNoOutputAndNoTempFolder()
    {
        string source = WriteFlux(_tmp.File("flux"), withConfig: true, nanIn: "single_blocks.0.linear2.weight");
        string parent = _tmp.File("outputs");
        Directory.CreateDirectory(parent);
        string output = Path.Combine(parent, "flux-int8");
        var seen = new List<string>();
        var e = Assert.Throws<QuantSharpException>(() => QuantizedCheckpointWriter.Write(source, output,
            QuantizedCheckpointWriter.Convert(QuantizedCheckpointWriter.DefaultSelector(source), WeightFormat.Parse("int8")),
            new CheckpointWriteOptions { Progress = (_, _, name) => seen.Add(name) }));
        Assert.Contains("single_blocks.0.linear2.weight", e.Message);
        Assert.Contains("NaN", e.Message);
        Assert.True(seen.Count > 5); // it failed mid-way, after writing several tensors
        Assert.Empty(Directory.EnumerateFileSystemEntries(parent));
    }

    [Fact]
    public void CancelledMidway_LeavesNoOutputAndNoTempFolder()
    {
        string source = WriteFlux(_tmp.File("flux"), withConfig: false);
        string parent = _tmp.File("outputs");
        Directory.CreateDirectory(parent);
        using var cancel = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => QuantizedCheckpointWriter.Write(source, Path.Combine(parent, "out"),
            QuantizedCheckpointWriter.Convert(QuantizedCheckpointWriter.DefaultSelector(source), WeightFormat.Parse("nf4")),
            new CheckpointWriteOptions
            {
                Cancellation = cancel.Token,
                Progress = (done, _, _) =>
                {
                    if (done == 10)
                    {
                        Assert.Single(Directory.GetDirectories(parent)); // the temporary folder exists while writing
                        cancel.Cancel();
                    }
                },
            }));
        Assert.Empty(Directory.EnumerateFileSystemEntries(parent));
    }

    [Fact]
    public void ExistingOutput_RefusedUnlessOverwrite()
    {
        string source = WriteFlux(_tmp.File("flux"), withConfig: true);
        string output = _tmp.File("existing");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep.txt"), "mine");
        TensorConverter convert = QuantizedCheckpointWriter.Convert(QuantizedCheckpointWriter.DefaultSelector(source), WeightFormat.Parse("ternary"));
        Assert.Contains("--force", Assert.Throws<QuantSharpException>(() => QuantizedCheckpointWriter.Write(source, output, convert)).Message);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "keep.txt")));

        QuantizedCheckpointWriter.Write(source, output, convert, new CheckpointWriteOptions { Overwrite = true });
        Assert.False(File.Exists(Path.Combine(output, "keep.txt")));
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(_tmp.Path), p => Path.GetFileName(p).StartsWith('.'));

        Assert.Contains("must not be the source", Assert.Throws<QuantSharpException>(() => QuantizedCheckpointWriter.Write(source, source, convert, new CheckpointWriteOptions { Overwrite = true })).Message);
    }

    [Fact]
    public void ReplacedTensors_AreWrittenInsteadOfTheSource()
    {
        string source = WriteFlux(_tmp.File("flux"), withConfig: true);
        string output = _tmp.File("replaced");
        float[] bias = Enumerable.Range(0, 64).Select(i => (float)i).ToArray();
        float[] linear = QuantTestData.Random(32, 64, 99);
        QuantizedCheckpointWriter.Write(source, output,
            QuantizedCheckpointWriter.Convert(QuantizedCheckpointWriter.DefaultSelector(source), WeightFormat.Parse("int8")),
            new CheckpointWriteOptions { ReplacedTensors = new Dictionary<string, float[]> { ["img_in.bias"] = bias, ["final_layer.linear.weight"] = linear } });
        using SafetensorsCheckpoint dst = SafetensorsCheckpoint.Open(output);
        Assert.Equal(bias, dst.Tensors["img_in.bias"].ToFloatArray());
        PackedLinear w = QuantizedLinear.Load("final_layer.linear.weight", dst.Tensors);
        PackedLinear expected = QuantizedLinear.Quantize("final_layer.linear.weight", linear, 32, 64, QuantSpec.Int8());
        Assert.Equal(expected.Packed.Parts["qweight"].Bytes.ToArray(), w.Packed.Parts["qweight"].Bytes.ToArray());

        Assert.Contains("not in", Assert.Throws<QuantSharpException>(() => QuantizedCheckpointWriter.Write(source, _tmp.File("bad"),
            (_, _) => null, new CheckpointWriteOptions { ReplacedTensors = new Dictionary<string, float[]> { ["nope"] = bias } })).Message);
    }
}
