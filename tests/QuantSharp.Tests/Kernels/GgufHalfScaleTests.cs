using QuantSharp.Quantization.Gguf;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;

namespace QuantSharp.Tests.Kernels;

/// <summary>The inline block-scale conversion of the GGUF kernels against the library's <c>(float)Half</c>.</summary>
public unsafe class GgufHalfScaleTests
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

    [SkippableFact]
    public void BlockScales8MatchesLibraryForEveryHalfAtEveryBlockStride()
    {
        Skip.IfNot(KernelIsa.UseAvx2, "AVX2 gather path");
        foreach (int stride in new[] { 18, 34 })
        {
            byte[] blocks = new byte[8 * stride + 4];
            var random = new Random(stride);
            random.NextBytes(blocks);
            Vector256<int> offsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * stride;
            for (int start = 0; start < 65536; start += 8)
            {
                fixed (byte* p = blocks)
                {
                    for (int k = 0; k < 8; k++)
                    {
                        *(ushort*)(p + k * stride) = (ushort)(start + ((k * 4099) % 8)); // scramble the order within the 8
                    }

                    Vector256<float> actual = GgufKernels.BlockScales8(p, offsets);
                    for (int k = 0; k < 8; k++)
                    {
                        Half h = *(Half*)(p + k * stride);
                        float expected = (float)h;
                        if (float.IsNaN(expected))
                        {
                            Assert.True(float.IsNaN(actual[k]), $"0x{BitConverter.HalfToUInt16Bits(h):X4}");
                        }
                        else
                        {
                            Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual[k]));
                        }
                    }
                }
            }
        }
    }

    [SkippableFact]
    public void ScaleMinK4MatchesTheOneAtATimeDecoding()
    {
        Skip.IfNot(KernelIsa.UseAvx2, "AVX2 unpack");
        var random = new Random(5);
        byte* head = stackalloc byte[16];
        for (int trial = 0; trial < 2000; trial++)
        {
            for (int i = 0; i < 16; i++)
            {
                head[i] = (byte)random.Next(256);
            }

            GgufKernels.ScaleMinK4(Sse2.LoadVector128(head), out Vector256<float> scales, out Vector256<float> mins);
            for (int j = 0; j < 8; j++)
            {
                GgufDequantize.ScaleMinK4(j, head + 4, out int scale, out int min);
                Assert.Equal(scale, scales[j]);
                Assert.Equal(min, mins[j]);
            }
        }
    }

    [SkippableFact]
    public void HalvesToSinglesMatchesLibraryForEveryHalf()
    {
        Skip.IfNot(KernelIsa.UseAvx2, "AVX2 conversion");
        for (int start = 0; start < 65536; start += 8)
        {
            Vector128<short> h = Vector128.Create((short)start, (short)(start + 1), (short)(start + 2), (short)(start + 3), (short)(start + 4), (short)(start + 5), (short)(start + 6), (short)(start + 7));
            Vector256<float> actual = Int4Kernels.HalvesToSingles(h);
            for (int k = 0; k < 8; k++)
            {
                float expected = (float)BitConverter.UInt16BitsToHalf((ushort)(start + k));
                if (float.IsNaN(expected))
                {
                    Assert.True(float.IsNaN(actual[k]), $"0x{start + k:X4}");
                }
                else
                {
                    Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual[k]));
                }
            }
        }
    }
}
