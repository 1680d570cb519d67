using System.Buffers.Binary;
using System.Text;
using QuantSharp.Formats;

namespace QuantSharp.Tests.Formats;

/// <summary>
/// Each check of the safetensors reader on its own (written for the mutants Stryker found surviving): every refusal
/// names the file, the tensor and what is wrong, and every valid corner (zero dimensions, empty tensors, tensors listed
/// out of order, non-string metadata) loads.
/// </summary>
public sealed class SafetensorsValidationTests
{
    [Theory]
    [InlineData("""{"w":{"shape":[1],"data_offsets":[0,4]}}""", 4, SafetensorsError.BadEntry, "missing string field 'dtype'")]
    [InlineData("""{"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}""", 4, SafetensorsError.BadEntry, "missing string field 'dtype'")]
    [InlineData("""{"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}""", 1, SafetensorsError.UnknownDType, "dtype 'F8_E4M3' is not supported")]
    [InlineData("""{"w":{"dtype":"F32","data_offsets":[0,4]}}""", 4, SafetensorsError.BadEntry, "missing array field 'shape'")]
    [InlineData("""{"w":{"dtype":"F32","shape":4,"data_offsets":[0,4]}}""", 4, SafetensorsError.BadEntry, "missing array field 'shape'")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1,-1],"data_offsets":[0,4]}}""", 4, SafetensorsError.BadEntry, "shape dimension 1 is not a non-negative integer")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}""", 0, SafetensorsError.ByteCountMismatch, "shape product overflows")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}""", 0, SafetensorsError.ByteCountMismatch, "shape × dtype size overflows")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1]}}""", 4, SafetensorsError.BadEntry, "missing field 'data_offsets'")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", 4, SafetensorsError.OffsetsOutOfRange, "data_offsets [-4, 0] are not inside the 4-byte data section")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}""", 4, SafetensorsError.OffsetsOutOfRange, "data_offsets [4, 0] are not inside")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}""", 4, SafetensorsError.OffsetsOutOfRange, "data_offsets [0, 8] are not inside")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", 4, SafetensorsError.ByteCountMismatch, "shape 2 of F32 needs 8 bytes but data_offsets span 4")]
    [InlineData("""{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}""", 6, SafetensorsError.Overlap, "bytes [2, 6) overlap tensor 'a' at [0, 4)")]
    [InlineData("[1]", 0, SafetensorsError.BadJson, "header is not a JSON object")]
    [InlineData("{\"a\": [", 0, SafetensorsError.BadJson, "header is not valid JSON")]
    public void EachRefusalNamesFileTensorAndProblem(string header, int dataBytes, SafetensorsError error, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, Build(Encoding.UTF8.GetBytes(header), dataBytes));
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(error, e.Error);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HeaderLengthProblemsAreNamed()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, new byte[8]); // an 8-byte file: complete length field, zero-length header
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(SafetensorsError.HeaderLength, e.Error);
        Assert.Contains("header length 0", e.Message, StringComparison.Ordinal);

        File.WriteAllBytes(path, new byte[7]);
        e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(SafetensorsError.Truncated, e.Error);
        Assert.Contains("file is 7 bytes", e.Message, StringComparison.Ordinal);

        byte[] pastEnd = Build("{}"u8.ToArray(), 0);
        BinaryPrimitives.WriteUInt64LittleEndian(pastEnd, 100);
        File.WriteAllBytes(path, pastEnd);
        Assert.Contains("header length 100 runs", Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path).Dispose()).Message, StringComparison.Ordinal);

        File.WriteAllBytes(path, Build([(byte)'{', 0xFF, (byte)'}'], 0));
        e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(SafetensorsError.BadJson, e.Error);
        Assert.Contains("header is not valid UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidCornersLoad()
    {
        using var dir = new TempDir();
        string path = dir.File("ok.safetensors");
        // Listed out of order (b's bytes come first), a zero-length tensor inside another's span, a zero dimension,
        // and metadata with a non-string value (kept as its JSON text).
        string header = """
            {"__metadata__":{"format":"pt","n":5},
             "a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},
             "b":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]},
             "empty":{"dtype":"F32","shape":[0,3],"data_offsets":[2,2]}}
            """;
        File.WriteAllBytes(path, Build(Encoding.UTF8.GetBytes(header), 8));
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal([4, 5, 6, 7], file.Tensors["a"].Bytes.ToArray());
        Assert.Equal([0, 1, 2, 3], file.Tensors["b"].Bytes.ToArray());
        Assert.Equal([0L, 3L], file.Tensors["empty"].Shape);
        Assert.Equal(0, file.Tensors["empty"].ByteLength);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("5", file.Metadata["n"]);
    }

    [Fact]
    public void FolderPrefersModelSafetensorsAndShardsLoadInNameOrder()
    {
        using var dir = new TempDir();
        string single = Path.Combine(dir.Path, "single");
        Directory.CreateDirectory(single);
        File.WriteAllBytes(Path.Combine(single, "model.safetensors"), OneTensor("w"));
        File.WriteAllBytes(Path.Combine(single, "adapter.safetensors"), OneTensor("w"));
        using (SafetensorsCheckpoint c = SafetensorsCheckpoint.Open(single))
        {
            Assert.Equal([Path.Combine(single, "model.safetensors")], c.Files);
        }

        string sharded = Path.Combine(dir.Path, "sharded");
        Directory.CreateDirectory(sharded);
        File.WriteAllBytes(Path.Combine(sharded, "model-00001-of-00002.safetensors"), OneTensor("a"));
        File.WriteAllBytes(Path.Combine(sharded, "model-00002-of-00002.safetensors"), OneTensor("b"));
        File.WriteAllText(Path.Combine(sharded, "model.safetensors.index.json"),
            """{"weight_map":{"b":"model-00002-of-00002.safetensors","a":"model-00001-of-00002.safetensors"}}""");
        using (SafetensorsCheckpoint c = SafetensorsCheckpoint.Open(sharded))
        {
            Assert.Equal(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], c.Files.Select(Path.GetFileName));
            Assert.Equal(2, c.Tensors.Count);
        }
    }

    [Theory]
    [InlineData("../model.safetensors", "is not a plain file name")]
    [InlineData("sub/model.safetensors", "is not a plain file name")]
    [InlineData("sub\\\\model.safetensors", "is not a plain file name")]
    [InlineData("..model.safetensors", "is not a plain file name")]
    [InlineData("missing.safetensors", "shard 'missing.safetensors' is listed but missing")]
    public void IndexRefusesUnsafeOrMissingShards(string shard, string expected)
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("model-00001-of-00001.safetensors"), OneTensor("a"));
        File.WriteAllText(dir.File("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"" + shard + "\"}}");
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsCheckpoint.Open(dir.Path).Dispose());
        Assert.Equal(SafetensorsError.BadIndex, e.Error);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    private static byte[] OneTensor(string name) => Build(Encoding.UTF8.GetBytes("{\"" + name + "\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}"), 2);

    private static byte[] Build(byte[] json, int dataBytes)
    {
        byte[] file = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)json.Length);
        json.CopyTo(file, 8);
        for (int i = 0; i < dataBytes; i++)
        {
            file[8 + json.Length + i] = (byte)i;
        }

        return file;
    }
}
