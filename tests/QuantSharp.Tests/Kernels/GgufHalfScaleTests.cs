using QuantSharp.Kernels;

namespace QuantSharp.Tests.Kernels;

/// <summary>The inline block-scale conversion of the GGUF kernels against the library's <c>(float)Half</c>.</summary>
public class GgufHalfScaleTests
{
    [Fact]
    public void HalfToSingleMatchesLibraryForEveryHalf()
    {
        for (int i = 0; i < 65536; i++)
        {
            Half h = BitConverter.UInt16BitsToHalf((ushort)i);
            float expected = (float)h;
            float actual = GgufKernels.HalfToSingle(h);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(actual), $"0x{i:X4}");
            }
            else
            {
                Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual));
            }
        }
    }
}
