using QuantSharp.Quantization.Gguf;
using System.Buffers.Binary;
using System.Text;
using QuantSharp.Formats.Gguf;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Formats.Gguf;

public class GgufFileTests
{
    private static void AssertSameAsSample(GgufFile file)
    {
        var metadata = GgufTestFiles.SampleMetadata();
        Assert.Equal(metadata.Count, file.ValuesInOrder.Count);
        for (int i = 0; i < metadata.Count; i++)
        {
            Assert.Equal(metadata[i].Key, file.ValuesInOrder[i].Key);
            Assert.True(metadata[i].Value.Equals(file.ValuesInOrder[i].Value), $"value of {metadata[i].Key} differs: {file.ValuesInOrder[i].Value}");
        }

        var tensors = GgufTestFiles.SampleTensors();
        Assert.Equal(tensors.Count, file.TensorsInOrder.Count);
        for (int i = 0; i < tensors.Count; i++)
        {
            GgufTensorInfo t = file.TensorsInOrder[i];
            Assert.Equal(tensors[i].Name, t.Name);
            Assert.Equal(tensors[i].Type, t.Type);
            Assert.Equal(tensors[i].Ne, t.Dimensions);
            Assert.True(tensors[i].Data.AsSpan().SequenceEqual(t.Bytes), $"bytes of {t.Name} differ");
            Assert.Equal(0, t.Offset % 32);
            Assert.Same(t, file.GetTensor(t.Name));
        }

        Assert.Equal(0, file.DataOffset % 32);
        Assert.Equal(3u, file.Version);
    }

    [Fact]
    public void WriteThenReadFromMemory_RoundTripsMetadataAndTensors()
    {
        using GgufFile file = GgufFile.Parse(GgufTestFiles.Sample(), "sample");
        AssertSameAsSample(file);
    }

    [Fact]
    public void WriteThenOpenMapped_RoundTripsAndCommitIsAtomic()
    {
        string dir = Path.Combine(Path.GetTempPath(), "qs-gguf-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "model.gguf");
            File.WriteAllText(path, "old contents");
            using (var writer = new GgufWriter(dir))
            {
                foreach (var (k, v) in GgufTestFiles.SampleMetadata())
                {
                    writer.Add(k, v);
                }

                foreach (var t in GgufTestFiles.SampleTensors())
                {
                    writer.AddTensor(t.Name, t.Type, t.Ne, t.Data);
                }

                writer.Commit(path);
            }

            Assert.Equal(["model.gguf"], Directory.GetFiles(dir).Select(Path.GetFileName));
            using GgufFile file = GgufFile.Open(path);
            AssertSameAsSample(file);
            Assert.Equal(GgufTestFiles.Sample(), File.ReadAllBytes(path));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void TypedAccessorsAndWeightSourceViews()
    {
        using GgufFile file = GgufFile.Parse(GgufTestFiles.Sample(), "sample");
        Assert.Equal("llama", file.GetString("general.architecture"));
        Assert.Equal(4000000000L, file.GetInteger("u32"));
        Assert.Equal(-100L, file.GetInteger("i8"));
        Assert.Equal(3.25, file.GetFloat("f32"));
        Assert.Equal(7L, file.GetInteger("missing", 7));
        Assert.Equal(["<unk>", "<s>", "</s>", "▁the", ""], file.GetArray<string>("tokenizer.ggml.tokens"));
        Assert.Equal([2, 3, 3, 1, 1], file.GetArray<int>("tokenizer.ggml.token_type"));
        Assert.Equal(GgufError.Missing, Assert.Throws<GgufException>(() => file.GetString("nope")).Error);
        var wrong = Assert.Throws<GgufException>(() => file.GetString("u32"));
        Assert.Equal(GgufError.WrongType, wrong.Error);
        Assert.Contains("'u32'", wrong.Message, StringComparison.Ordinal);
        Assert.Equal(GgufError.WrongType, Assert.Throws<GgufException>(() => file.GetArray<float>("tokenizer.ggml.tokens")).Error);
        Assert.Equal(GgufError.Missing, Assert.Throws<GgufException>(() => file.GetTensor("nope")).Error);

        // IWeightSource: float tensors as row-major views; quantized ones only as tensor infos.
        Assert.Equal("llama", file.Metadata["general.architecture"]);
        Assert.False(file.Metadata.ContainsKey("tokenizer.ggml.tokens"));
        TensorView v = file.Tensors["blk.0.attn_v.weight"];
        Assert.Equal(DType.F16, v.DType);
        Assert.Equal([3L, 5L], v.Shape);
        Assert.False(file.Tensors.ContainsKey("blk.0.ffn_up.weight"));
        float[] fromView = v.ToFloatArray();
        float[] fromInfo = file.GetTensor("blk.0.attn_v.weight").ToFloatArray();
        Assert.Equal(fromView, fromInfo);
        Assert.Equal(2, file.GetTensor("blk.0.ffn_up.weight").RowCount);
        Assert.Equal(256, file.GetTensor("blk.0.ffn_up.weight").RowLength);
    }

    [Fact]
    public void AcceptsVersion2AndCustomAlignment()
    {
        byte[] bytes = GgufTestFiles.Sample();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 2);
        using (GgufFile v2 = GgufFile.Parse(bytes))
        {
            Assert.Equal(2u, v2.Version);
        }

        using var writer = new GgufWriter();
        writer.Add("general.alignment", GgufValue.From(64u));
        writer.AddTensor("a", GgmlType.F32, [3], new byte[12]);
        writer.AddTensor("b", GgmlType.F32, [1], new byte[4]);
        using GgufFile file = GgufFile.Parse(writer.ToArray());
        Assert.Equal(64u, file.Alignment);
        Assert.Equal(0, file.DataOffset % 64);
        Assert.Equal(64, file.GetTensor("b").Offset);
    }

    /// <summary>A minimal file: header, the given metadata bytes, one tensor info, padding, data.</summary>
    private static byte[] Build(uint version = 3, ulong? tensorCount = null, ulong? kvCount = null, Action<BinaryWriter>? kvs = null,
        string tensorName = "t", uint nDims = 1, ulong[]? ne = null, uint type = 0, ulong offset = 0, int dataBytes = 32)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write(Encoding.ASCII.GetBytes("GGUF"));
        w.Write(version);
        w.Write(tensorCount ?? 1UL);
        w.Write(kvCount ?? (kvs is null ? 0UL : 1UL));
        kvs?.Invoke(w);
        w.Write((ulong)Encoding.UTF8.GetByteCount(tensorName));
        w.Write(Encoding.UTF8.GetBytes(tensorName));
        ne ??= [8];
        w.Write(nDims);
        foreach (ulong d in ne)
        {
            w.Write(d);
        }

        w.Write(type);
        w.Write(offset);
        while (ms.Position % 32 != 0)
        {
            w.Write((byte)0);
        }

        w.Write(new byte[dataBytes]);
        return ms.ToArray();
    }

    private static void WriteKey(BinaryWriter w, string key)
    {
        w.Write((ulong)key.Length);
        w.Write(Encoding.ASCII.GetBytes(key));
    }

    public static TheoryData<string, byte[], GgufError> Malformed() => new()
    {
        { "valid file is valid", Build(), (GgufError)(-1) },
        { "bad magic", [.. "GGML"u8, .. Build().AsSpan(4)], GgufError.BadMagic },
        { "empty", [], GgufError.BadMagic },
        { "version 1", Build(version: 1), GgufError.UnsupportedVersion },
        { "big-endian", Build(version: 0x03000000), GgufError.UnsupportedVersion },
        { "truncated header", Build()[..20], GgufError.Truncated },
        { "huge tensor count", Build(tensorCount: ulong.MaxValue), GgufError.CountTooLarge },
        { "huge kv count", Build(kvCount: 1UL << 40), GgufError.CountTooLarge },
        { "huge string", Build(kvs: w => { w.Write(ulong.MaxValue - 3); }), GgufError.StringTooLong },
        { "unknown value type", Build(kvs: w => { WriteKey(w, "k"); w.Write(13u); }), GgufError.UnknownValueType },
        { "huge array", Build(kvs: w => { WriteKey(w, "k"); w.Write(9u); w.Write(6u); w.Write(1UL << 61); }), GgufError.CountTooLarge },
        { "deep nesting", Build(kvs: w => { WriteKey(w, "k"); w.Write(9u); for (int i = 0; i < 10; i++) { w.Write(9u); w.Write(1UL); } w.Write(0u); w.Write(0UL); }), GgufError.NestingTooDeep },
        { "duplicate key", Build(kvCount: 2, kvs: w => { WriteKey(w, "k"); w.Write(0u); w.Write((byte)1); WriteKey(w, "k"); w.Write(0u); w.Write((byte)1); }), GgufError.DuplicateKey },
        { "alignment not a power of two", Build(kvs: w => { WriteKey(w, "general.alignment"); w.Write(4u); w.Write(48u); }), GgufError.BadAlignment },
        { "alignment of the wrong type", Build(kvs: w => { WriteKey(w, "general.alignment"); w.Write(10u); w.Write(32UL); }), GgufError.BadAlignment },
        { "five dimensions", Build(nDims: 5, ne: [8, 1, 1, 1, 1]), GgufError.BadDimensionCount },
        { "zero dimensions", Build(nDims: 0, ne: []), GgufError.BadDimensionCount },
        { "dimension over 2^63", Build(nDims: 2, ne: [8, 1UL << 63]), GgufError.BadShape },
        { "element count overflows", Build(nDims: 3, ne: [1UL << 32, 1UL << 32, 1UL << 32]), GgufError.BadShape },
        { "row not a whole block", Build(ne: [40], type: 2), GgufError.BadShape },
        { "unknown tensor type", Build(type: 4), GgufError.UnknownTensorType },
        { "unknown tensor type 1000", Build(type: 1000), GgufError.UnknownTensorType },
        { "misaligned offset", Build(offset: 4), GgufError.TensorMisaligned },
        { "data past the end", Build(ne: [9]), GgufError.TensorOutOfRange },
        { "offset past the end", Build(offset: 1UL << 40), GgufError.TensorOutOfRange },
        { "byte size overflows", Build(nDims: 2, ne: [256, 1L << 55], type: 14), GgufError.BadShape },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedFiles_ThrowTheDocumentedError(string what, byte[] bytes, GgufError expected)
    {
        if ((int)expected == -1)
        {
            using GgufFile ok = GgufFile.Parse(bytes, what);
            Assert.Single(ok.TensorsInOrder);
            return;
        }

        var e = Assert.Throws<GgufException>(() => GgufFile.Parse(bytes, "bad.gguf").Dispose());
        Assert.True(expected == e.Error, $"{what}: expected {expected}, got {e.Error}: {e.Message}");
        Assert.StartsWith("bad.gguf: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateAndOverlappingTensors_AreRejected()
    {
        using (var writer = new GgufWriter())
        {
            writer.AddTensor("a", GgmlType.F32, [8], new byte[32]);
            writer.AddTensor("b", GgmlType.F32, [8], new byte[32]);
            byte[] bytes = writer.ToArray();
            // Rename "b" to "a" (the names are 1 byte long and follow their u64 lengths).
            int second = IndexOfName(bytes, (byte)'b');
            bytes[second] = (byte)'a';
            var e = Assert.Throws<GgufException>(() => GgufFile.Parse(bytes, "dup.gguf"));
            Assert.Equal(GgufError.DuplicateTensor, e.Error);
            Assert.Equal("a", e.Item);
            bytes[second] = (byte)'b';

            // Point "b" at "a"'s bytes: the offset is the last u64 of b's tensor info.
            int offsetAt = second + 1 + 4 + 8 + 4;
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offsetAt), 0);
            Assert.Equal(GgufError.TensorOverlap, Assert.Throws<GgufException>(() => GgufFile.Parse(bytes)).Error);
        }
    }

    private static int IndexOfName(byte[] bytes, byte name)
    {
        for (int i = 24; i < bytes.Length - 9; i++)
        {
            if (bytes[i] == 1 && bytes.AsSpan(i + 1, 7).IndexOfAnyExcept((byte)0) < 0 && bytes[i + 8] == name)
            {
                return i + 8;
            }
        }

        throw new InvalidOperationException("name not found");
    }

    [Fact]
    public void OpenMissingOrTinyFile()
    {
        Assert.Throws<FileNotFoundException>(() => GgufFile.Open("/nonexistent/x.gguf"));
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, [0x47, 0x47]);
            Assert.Equal(GgufError.Truncated, Assert.Throws<GgufException>(() => GgufFile.Open(path)).Error);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
