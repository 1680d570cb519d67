using System.Buffers.Binary;
using System.Text;
using QuantSharp.Formats;

namespace QuantSharp.Tests.Formats;

public sealed class NpyFileTests
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    [Fact]
    public void WrittenArrayReadsBackWithShapeAndValues()
    {
        using var dir = new TempDir();
        string path = dir.File("x.npy");
        float[] values = [1.5f, -2, 0, 3.25f, float.MaxValue, -0.125f];
        NpyFile.Write(path, [2, 3], values);
        (long[] shape, float[] read) = NpyFile.Read(path);
        Assert.Equal([2L, 3L], shape);
        Assert.Equal(values, read);

        byte[] bytes = File.ReadAllBytes(path);
        Assert.Equal(Magic, bytes[..6]);
        Assert.Equal(1, bytes[6]);
        Assert.Equal(0, bytes[7]);
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        Assert.Equal(0, (10 + headerLength) % 64); // NumPy aligns the data to 64 bytes
        Assert.Equal('\n', (char)bytes[10 + headerLength - 1]);
        Assert.Equal(10 + headerLength + (values.Length * 4), bytes.Length);
        Assert.Equal(1.5f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(10 + headerLength)));
    }

    [Fact]
    public void OneDimensionalAndEmptyArraysReadBack()
    {
        using var dir = new TempDir();
        string path = dir.File("v.npy");
        NpyFile.Write(path, [3], [1, 2, 3]);
        Assert.Equal([3L], NpyFile.Read(path).Shape);
        Assert.Contains("(3,)", Encoding.ASCII.GetString(File.ReadAllBytes(path)), StringComparison.Ordinal);
        NpyFile.Write(path, [0, 4], []);
        (long[] shape, float[] values) = NpyFile.Read(path);
        Assert.Equal([0L, 4L], shape);
        Assert.Empty(values);
    }

    [Fact]
    public void WriteRefusesAShapeThatDoesNotMatchTheValues()
    {
        using var dir = new TempDir();
        Assert.ThrowsAny<ArgumentException>(() => NpyFile.Write(dir.File("x.npy"), [2, 2], [1, 2, 3]));
        Assert.False(File.Exists(dir.File("x.npy")));
    }

    [Theory]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", 8, "float32")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", 4, "C order")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': 1, }", 4, "shape")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4, "non-negative")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 4, "needs 8 bytes")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 4, "overflows")]
    public void MalformedHeaderIsOneClearError(string header, int dataBytes, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.npy");
        File.WriteAllBytes(path, Npy(header, new byte[dataBytes]));
        var e = Assert.Throws<QuantSharpException>(() => NpyFile.Read(path));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NotAnNpyFileOrACutHeaderIsRefused()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.npy");
        File.WriteAllBytes(path, "PK\x03\x04 not numpy"u8.ToArray());
        Assert.Contains("not a version 1.0 .npy file", Assert.Throws<QuantSharpException>(() => NpyFile.Read(path)).Message, StringComparison.Ordinal);
        File.WriteAllBytes(path, Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0])[..20]);
        Assert.Contains("runs past the end", Assert.Throws<QuantSharpException>(() => NpyFile.Read(path)).Message, StringComparison.Ordinal);
        byte[] version2 = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0]);
        version2[6] = 2;
        File.WriteAllBytes(path, version2);
        Assert.Throws<QuantSharpException>(() => NpyFile.Read(path));
    }

    private static byte[] Npy(string header, byte[] data)
    {
        byte[] h = Encoding.ASCII.GetBytes(header + "\n");
        var bytes = new byte[10 + h.Length + data.Length];
        Magic.CopyTo(bytes, 0);
        bytes[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)h.Length);
        h.CopyTo(bytes, 10);
        data.CopyTo(bytes, 10 + h.Length);
        return bytes;
    }
}
