using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;

using QuantSharp.Tests.Formats.Gguf;

namespace QuantSharp.Tests.Quantization.Gguf;

/// <summary>
/// Every block type QuantSharp dequantizes, on random bytes (so every index, sign and scale bit is exercised), against
/// ggml's own dequantizer from the bundled llama.cpp's libggml-base: the floats must be bit-identical (two NaNs count as
/// equal, as a random F16 scale can be one).
/// </summary>
public class GgmlDequantizeReferenceTests
{
    public static TheoryData<GgmlType> QuantizedTypes()
    {
        var data = new TheoryData<GgmlType>();
        foreach (GgmlType t in Enum.GetValues<GgmlType>().Where(t => GgmlTypeInfo.CanDequantize(t) && GgmlTypeInfo.BlockSize(t) > 1))
        {
            data.Add(t);
        }

        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(QuantizedTypes))]
    public void RandomBlocksDequantizeLikeGgml(GgmlType type)
    {
        LlamaCpp.SkipUnlessAvailable();
        const int blocks = 64;
        int count = blocks * GgmlTypeInfo.BlockSize(type);
        var bytes = new byte[blocks * GgmlTypeInfo.TypeSize(type)];
        new Random(1234 + (int)type).NextBytes(bytes);

        float[] theirs = LlamaCpp.Dequantize(type, bytes, count);
        var ours = new float[count];
        GgufDequantize.Row(type, bytes, ours);

        int finite = 0;
        for (int i = 0; i < count; i++)
        {
            if (float.IsNaN(theirs[i]) && float.IsNaN(ours[i]))
            {
                continue;
            }

            finite++;
            Assert.True(BitConverter.SingleToInt32Bits(theirs[i]) == BitConverter.SingleToInt32Bits(ours[i]),
                $"{type} element {i} (block {i / GgmlTypeInfo.BlockSize(type)}): ggml {theirs[i]:R}, QuantSharp {ours[i]:R}");
        }

        Assert.True(finite > count / 2, $"{type}: only {finite} of {count} values were not NaN");
    }

    [Fact]
    public void LatticeGridsHaveTheFormatsSizesAndLevels()
    {
        Assert.Equal(256 * 8, GgufLatticeGrids.Iq2xxs.Length);
        Assert.Equal(512 * 8, GgufLatticeGrids.Iq2xs.Length);
        Assert.Equal(1024 * 8, GgufLatticeGrids.Iq2s.Length);
        Assert.Equal(256 * 4, GgufLatticeGrids.Iq3xxs.Length);
        Assert.Equal(512 * 4, GgufLatticeGrids.Iq3s.Length);
        Assert.Equal(2048 * 8, GgufLatticeGrids.Iq1s.Length);

        // llama.cpp's first and last entries (ggml-common.h): iq2xxs 0x0808080808080808 … 0x2b2b2b2b2b2b2b2b? no: its
        // last is 0x2b2b2b1908082b08; iq3s_grid starts 0x01010101; iq1s_grid starts with all −1.
        Assert.Equal([8, 8, 8, 8, 8, 8, 8, 8], GgufLatticeGrids.Iq2xxs[..8]);
        Assert.Equal([1, 1, 1, 1], GgufLatticeGrids.Iq3s[..4]);
        Assert.All(GgufLatticeGrids.Iq1s[..8], b => Assert.Equal(0xFF, b));

        // Entries are distinct (an index selects one point), and the sign bytes all have an even number of bits set.
        Assert.Equal(512, GgufLatticeGrids.Iq2xs.Chunk(8).Select(Convert.ToHexString).Distinct().Count());
        Assert.Equal(2048, GgufLatticeGrids.Iq1s.Chunk(8).Select(Convert.ToHexString).Distinct().Count());
        Assert.All(GgufLatticeGrids.Signs, s => Assert.Equal(0, System.Numerics.BitOperations.PopCount(s) % 2));
        Assert.Equal(129, GgufLatticeGrids.Signs[1]);
    }
}
