using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

namespace QuantSharp.Tests.Formats.Gguf;

/// <summary>Small valid GGUF files built by the tests themselves.</summary>
internal static class GgufTestFiles
{
    /// <summary>Metadata covering every value type, including nested and empty arrays.</summary>
    public static List<KeyValuePair<string, GgufValue>> SampleMetadata() =>
    [
        new("general.architecture", GgufValue.From("llama")),
        new("general.name", GgufValue.From("tiny ünïcode ✓")),
        new("u8", GgufValue.From((byte)200)),
        new("i8", GgufValue.From((sbyte)-100)),
        new("u16", GgufValue.From((ushort)60000)),
        new("i16", GgufValue.From((short)-30000)),
        new("u32", GgufValue.From(4000000000u)),
        new("i32", GgufValue.From(-2000000000)),
        new("f32", GgufValue.From(3.25f)),
        new("bool", GgufValue.From(true)),
        new("u64", GgufValue.From(ulong.MaxValue)),
        new("i64", GgufValue.From(long.MinValue)),
        new("f64", GgufValue.From(-1e300)),
        new("tokenizer.ggml.tokens", GgufValue.Array(["<unk>", "<s>", "</s>", "▁the", ""])),
        new("tokenizer.ggml.scores", GgufValue.Array([0f, -1.5f, float.NegativeInfinity, 2f, 1e-20f])),
        new("tokenizer.ggml.token_type", GgufValue.Array([2, 3, 3, 1, 1])),
        new("a.u8", GgufValue.Array(new byte[] { 1, 2, 255 })),
        new("a.i8", GgufValue.Array(new sbyte[] { -1, 2 })),
        new("a.u16", GgufValue.Array(new ushort[] { 1, 65535 })),
        new("a.i16", GgufValue.Array(new short[] { -1, 300 })),
        new("a.u32", GgufValue.Array(new uint[] { 7 })),
        new("a.bool", GgufValue.Array([true, false, true])),
        new("a.u64", GgufValue.Array(new ulong[] { 1, ulong.MaxValue })),
        new("a.i64", GgufValue.Array(new long[] { -5 })),
        new("a.f64", GgufValue.Array(new[] { 0.5, double.NaN })),
        new("a.empty", GgufValue.Array(Array.Empty<float>())),
        new("a.nested", GgufValue.Array([GgufValue.Array([1, 2]), GgufValue.Array(["x", "yz"]), GgufValue.Array(Array.Empty<GgufValue>())])),
    ];

    /// <summary>A deterministic matrix of floats in roughly N(0, 1).</summary>
    public static float[] RandomFloats(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var result = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            result[i] = scale * (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return result;
    }

    /// <summary>Tensors of several types (name, type, ne, bytes).</summary>
    public static List<(string Name, GgmlType Type, long[] Ne, byte[] Data)> SampleTensors()
    {
        var list = new List<(string, GgmlType, long[], byte[])>();
        void Add(string name, GgmlType type, int rows, int cols, int seed)
        {
            float[] w = RandomFloats(rows * cols, seed);
            list.Add((name, type, [cols, rows], GgufQuantize.Matrix(type, w, rows, cols)));
        }

        Add("token_embd.weight", GgmlType.Q8_0, 3, 64, 1);
        Add("blk.0.attn_q.weight", GgmlType.Q4_0, 2, 32, 2);
        Add("blk.0.ffn_up.weight", GgmlType.Q4_K, 2, 256, 3);
        Add("blk.0.ffn_down.weight", GgmlType.Q6_K, 1, 256, 4);
        Add("blk.0.attn_k.weight", GgmlType.TQ2_0, 1, 256, 5);
        Add("output_norm.weight", GgmlType.F32, 1, 7, 6);
        Add("blk.0.attn_v.weight", GgmlType.F16, 3, 5, 7);
        list.Add(("rope_freqs", GgmlType.F32, [4, 1, 1, 1], new byte[16]));
        return list;
    }

    /// <summary>A complete small GGUF file in memory.</summary>
    public static byte[] Sample()
    {
        using var writer = new GgufWriter();
        foreach (var (k, v) in SampleMetadata())
        {
            writer.Add(k, v);
        }

        foreach (var t in SampleTensors())
        {
            writer.AddTensor(t.Name, t.Type, t.Ne, t.Data);
        }

        return writer.ToArray();
    }
}
