using System.Buffers.Binary;
using System.Text;
using QuantSharp.Formats;
using QuantSharp.Tensors;

namespace QuantSharp.Tests.Formats;

public class SafetensorsTests
{
    private static byte[] Build(string header, int dataBytes, long? lengthOverride = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        byte[] file = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)(lengthOverride ?? json.Length));
        json.CopyTo(file, 8);
        for (int i = 0; i < dataBytes; i++)
        {
            file[8 + json.Length + i] = (byte)i;
        }

        return file;
    }

    private static SafetensorsException Fails(byte[] bytes, SafetensorsError expected)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(expected, e.Error);
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void WriterThenReaderRoundTripsEveryDtypeAndMetadata()
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        using (var w = new SafetensorsWriter(dir.Path))
        {
            w.Metadata["note"] = "hello";
            w.Add("a", [2, 3], [1f, 2f, 3f, 4f, 5f, 6f]);
            w.Add("b", DType.BF16, [2], new byte[] { 0x80, 0x3F, 0x00, 0xC0 });
            w.Add("c", DType.I8, [3], new byte[] { 1, 255, 7 });
            w.Add("d", DType.F16, [1], BitConverter.GetBytes((Half)0.5f));
            w.Add("e", DType.I64, [1], BitConverter.GetBytes(-5L));
            w.Add("f", DType.Bool, [2], new byte[] { 1, 0 });
            w.Add("g", DType.I16, [1], BitConverter.GetBytes((short)-2));
            w.Add("h", DType.U8, [1], new byte[] { 200 });
            w.Add("i", DType.I32, [1], BitConverter.GetBytes(77));
            w.Commit(path);
        }

        Assert.Single(Directory.GetFiles(dir.Path));
        byte[] raw = File.ReadAllBytes(path);
        Assert.Equal(0, (long)BinaryPrimitives.ReadUInt64LittleEndian(raw) % 8);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal("hello", f.Metadata["note"]);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, f.Tensors["a"].ToFloatArray());
        Assert.Equal(new[] { 1f, -2f }, f.Tensors["b"].ToFloatArray());
        Assert.Equal(new[] { 0.5f }, f.Tensors["d"].ToFloatArray());
        Assert.Equal(new long[] { 2, 3 }, f.Tensors["a"].Shape);
        Assert.Equal(9, f.Tensors.Count);
    }

    [Fact]
    public void AbandonedWriterLeavesNothingOnDisk()
    {
        using var dir = new TempDir();
        using (var w = new SafetensorsWriter(dir.Path))
        {
            w.Add("a", [1], [1f]);
        }

        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void TruncatedFile() => Fails(new byte[5], SafetensorsError.Truncated);

    [Fact]
    public void HeaderLengthPastEnd() => Fails(Build("{}", 0, lengthOverride: 1000), SafetensorsError.HeaderLength);

    [Fact]
    public void HugeHeaderLength() => Fails(Build("{}", 0, lengthOverride: long.MaxValue), SafetensorsError.HeaderLength);

    [Fact]
    public void BadJson() => Fails(Build("{\"a\": [", 0), SafetensorsError.BadJson);

    [Fact]
    public void NotAnObject() => Fails(Build("[1, 2]", 0), SafetensorsError.BadJson);

    [Fact]
    public void OffsetsPastDataSection()
        => Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), SafetensorsError.OffsetsOutOfRange);

    [Fact]
    public void OverlappingTensors()
    {
        var e = Fails(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), SafetensorsError.Overlap);
        Assert.Equal("b", e.Tensor);
    }

    [Fact]
    public void WrongByteCount()
    {
        var e = Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), SafetensorsError.ByteCountMismatch);
        Assert.Equal("w", e.Tensor);
        Assert.Contains("needs 12 bytes", e.Message);
    }

    [Fact]
    public void UnknownDtype() => Fails(Build("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1), SafetensorsError.UnknownDType);

    [Fact]
    public void MissingField() => Fails(Build("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), SafetensorsError.BadEntry);

    [Fact]
    public void NegativeDimension() => Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4), SafetensorsError.BadEntry);

    [Fact]
    public void ShapeProductOverflow()
        => Fails(Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4), SafetensorsError.ByteCountMismatch);

    [Fact]
    public void RandomCorruptionsOnlyEverThrowSafetensorsException()
    {
        using var dir = new TempDir();
        string good = dir.File("good.safetensors");
        using (var w = new SafetensorsWriter(dir.Path))
        {
            w.Add("x", [4, 4], new float[16]);
            w.Add("y", DType.I8, [7], new byte[7]);
            w.Commit(good);
        }

        byte[] original = File.ReadAllBytes(good);
        var random = new Random(1234);
        string path = dir.File("fuzz.safetensors");
        for (int i = 0; i < 300; i++)
        {
            byte[] bytes = (byte[])original.Clone();
            int flips = random.Next(1, 4);
            for (int f = 0; f < flips; f++)
            {
                bytes[random.Next(Math.Min(bytes.Length, 200))] = (byte)random.Next(256);
            }

            if (random.Next(4) == 0)
            {
                Array.Resize(ref bytes, random.Next(bytes.Length));
            }

            File.WriteAllBytes(path, bytes);
            try
            {
                using var f = SafetensorsFile.Open(path);
                foreach (var t in f.Tensors.Values)
                {
                    Assert.True(t.ByteLength <= bytes.Length);
                }
            }
            catch (SafetensorsException)
            {
            }
        }
    }

    [Fact]
    public void ShardedCheckpointLoadsThroughIndex()
    {
        using var dir = new TempDir();
        using (var w = new SafetensorsWriter(dir.Path))
        {
            w.Add("a", [1], [1f]);
            w.Commit(dir.File("model-00001-of-00002.safetensors"));
        }

        using (var w = new SafetensorsWriter(dir.Path))
        {
            w.Add("b", [1], [2f]);
            w.Commit(dir.File("model-00002-of-00002.safetensors"));
        }

        File.WriteAllText(dir.File("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        using (var c = SafetensorsCheckpoint.Open(dir.Path))
        {
            Assert.Equal(2f, c.Tensors["b"].ToFloatArray()[0]);
        }

        File.WriteAllText(dir.File("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"c\":\"model-00003-of-00003.safetensors\"}}");
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Equal(SafetensorsError.BadIndex, e.Error);
    }
}
