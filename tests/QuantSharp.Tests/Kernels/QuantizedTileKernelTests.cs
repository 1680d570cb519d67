using System.Runtime.InteropServices;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tests.Quantization;

namespace QuantSharp.Tests.Kernels;

/// <summary>The multi-row decode kernels against the per-row scalar references, on odd and real widths.</summary>
public unsafe class QuantizedTileKernelTests
{
    private static readonly int[] Widths = [1, 7, 31, 32, 33, 96, 172, 257, 1000, 2048, 4097];

    private static float[] Activations(int cols, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, cols).Select(_ => (float)((rng.NextDouble() * 2) - 1) * (rng.Next(50) == 0 ? 20f : 1f)).ToArray();
    }

    [SkippableFact]
    public void Int8Dot4Tokens_BitIdenticalToDecodeKernel()
    {
        Skip.IfNot(System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported, "needs AVX2 + FMA (batched-decode kernel)");
        foreach (int cols in Widths)
        {
            sbyte[] w = QuantTestData.Random(1, cols, cols).Select(v => (sbyte)Math.Clamp((int)MathF.Round(v * 400), -127, 127)).ToArray();
            float[] x = Enumerable.Range(0, 4).SelectMany(k => Activations(cols, cols + k)).ToArray();
            float[] result = new float[4];
            fixed (sbyte* pw = w)
            fixed (float* px = x, pr = result)
            {
                ActivationQuantizer.Q8 a = ActivationQuantizer.Quantize(px, 4, cols);
                Int8Kernels.Dot4Tokens(pw, cols, a.Q, a.D, a.Chunks, pr);
                for (int k = 0; k < 4; k++)
                {
                    long tc = (long)k * a.Chunks;
                    float single = Int8Kernels.Dot(pw, cols, a.Q + (tc * 32), a.D + tc);
                    float reference = Int8Kernels.DotReference(pw, cols, a.Q + (tc * 32), a.D + tc);
                    Assert.Equal(single, result[k]);
                    Assert.True(Math.Abs(reference - result[k]) <= 1e-5f * (1 + Math.Abs(reference)), $"cols {cols} token {k}: {result[k]} vs reference {reference}");
                }
            }
        }
    }

    [SkippableTheory]
    [InlineData("int4-g32-sym")]
    [InlineData("int4-g64-asym")]
    [InlineData("int4-g128-asym")]
    [InlineData("int4-g256-sym")]
    public void Int4DotRow4Tokens_EqualsReferencePerToken(string specName)
    {
        Skip.IfNot(KernelIsa.UseAvx512, "needs AVX-512 F/BW (batched-decode kernel)");
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach (int cols in Widths)
        {
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(1, cols, cols), 1, cols);
            int chunks = PackLayout.Chunks(cols), gc = spec.GroupSize / 32;
            float[] x = Enumerable.Range(0, 4).SelectMany(k => Activations(cols, cols + k)).ToArray();
            byte[] zeros = spec.Symmetric ? [] : t["zeros"].Data;
            float[] result = new float[4];
            sbyte[] pairedBytes = new sbyte[4 * chunks * 32];
            fixed (byte* q = t["qweight"].Data, ps = t["scales"].Data, pz = zeros)
            fixed (float* px = x, pr = result)
            fixed (sbyte* paired = pairedBytes)
            {
                ActivationQuantizer.Q8 a = ActivationQuantizer.Quantize(px, 4, cols);
                for (int k = 0; k < 4; k++)
                {
                    Int4Kernels.PairActivations(a.Q + (k * chunks * 32), chunks, paired + (k * chunks * 32));
                }

                byte* z = spec.Symmetric ? null : pz;
                Int4Kernels.DotRow4TokensAvx512(q, (Half*)ps, z, gc, chunks, a.Q, paired, a.D, a.Sums, chunks, pr);
                for (int k = 0; k < 4; k++)
                {
                    long tc = (long)k * chunks;
                    float reference = Int4Kernels.DotReference(q, (Half*)ps, z, gc, chunks, a.Q + (tc * 32), a.D + tc, a.Sums + tc);
                    float magnitude = 1e-3f + Math.Abs(reference) + (x.Skip(k * cols).Take(cols).Sum(Math.Abs) * 0.1f);
                    Assert.True(Math.Abs(result[k] - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} token {k}: batched {result[k]} vs reference {reference}");
                }
            }
        }
    }

    [Theory]
    [InlineData("int4-g32-sym")]
    [InlineData("int4-g32-asym")]
    [InlineData("int4-g64-asym")]
    [InlineData("int4-g128-asym")]
    [InlineData("int4-g128-sym")]
    public void Int4Dot4_EqualsReferencePerRow(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach (int cols in Widths)
        {
            const int rows = 4;
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, cols), rows, cols);
            int groups = Int4Scheme.Groups(cols, spec.GroupSize), chunks = PackLayout.Chunks(cols), gc = spec.GroupSize / 32, rowBytes = PackLayout.RowBytes4(cols);
            float[] x = Activations(cols, cols + 3);
            byte[] zeros = spec.Symmetric ? [] : t["zeros"].Data;
            float[] scales32 = new float[rows * groups];
            float[] dsums = new float[groups];
            float[] result = new float[4];
            fixed (byte* q = t["qweight"].Data, ps = t["scales"].Data, pz = zeros)
            fixed (float* px = x, s32 = scales32, pd = dsums, pr = result)
            {
                for (int i = 0; i < scales32.Length; i++)
                {
                    s32[i] = (float)((Half*)ps)[i];
                }

                ActivationQuantizer.Q8 a = ActivationQuantizer.Quantize(px, 1, cols);
                Int4Kernels.GroupDSums(a.D, a.Sums, chunks, gc, pd);
                byte* z = spec.Symmetric ? null : pz;
                Int4Kernels.Dot4(q, rowBytes, s32, z, groups, gc, chunks, a.Q, a.D, pd, pr);
                for (int r = 0; r < rows; r++)
                {
                    float reference = Int4Kernels.DotReference(q + (r * rowBytes), (Half*)ps + (r * groups), z == null ? null : z + (r * groups), gc, chunks, a.Q, a.D, a.Sums);
                    float scalar = Int4Kernels.DotReferenceF32Scales(q + (r * rowBytes), s32 + (r * groups), z == null ? null : z + (r * groups), gc, chunks, a.Q, a.D, pd);
                    float magnitude = 1e-3f + Math.Abs(reference) + (x.Sum(Math.Abs) * 0.1f);
                    Assert.True(Math.Abs(result[r] - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {r}: tile {result[r]} vs reference {reference}");
                    Assert.True(Math.Abs(scalar - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {r}: scalar {scalar} vs reference {reference}");
                }
            }
        }
    }

    [SkippableTheory]
    [InlineData("int4-g32-sym")]
    [InlineData("int4-g32-asym")]
    [InlineData("int4-g64-asym")]
    [InlineData("int4-g64-sym")]
    [InlineData("int4-g128-asym")]
    [InlineData("int4-g128-sym")]
    [InlineData("int4-g256-asym")]
    public void Int4DotRow_EqualsReference(string specName)
    {
        Skip.IfNot(KernelIsa.UseAvx2, "AVX2 decode kernel");
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach (int cols in Widths)
        {
            const int rows = 3;
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, cols + 11), rows, cols);
            int groups = Int4Scheme.Groups(cols, spec.GroupSize), chunks = PackLayout.Chunks(cols), gc = spec.GroupSize / 32, rowBytes = PackLayout.RowBytes4(cols);
            float[] x = Activations(cols, cols + 5);
            // Each row in its own exact-size buffer: the kernel must read only this row's scales and zeros.
            for (int r = 0; r < rows; r++)
            {
                byte[] q = t["qweight"].Data.AsSpan(r * rowBytes, rowBytes).ToArray();
                byte[] sc = t["scales"].Data.AsSpan(r * groups * 2, groups * 2).ToArray();
                byte[] zr = spec.Symmetric ? [] : t["zeros"].Data.AsSpan(r * groups, groups).ToArray();
                fixed (byte* pq = q, ps = sc, pz = zr)
                fixed (float* px = x)
                {
                    ActivationQuantizer.Q8 a = ActivationQuantizer.Quantize(px, 1, cols);
                    byte* z = spec.Symmetric ? null : pz;
                    float reference = Int4Kernels.DotReference(pq, (Half*)ps, z, gc, chunks, a.Q, a.D, a.Sums);
                    float fast = Int4Kernels.DotRow<Nibble4Codes>(pq, (Half*)ps, z, 8, gc, chunks, a.Q, a.D, a.Sums);
                    float magnitude = 1e-3f + Math.Abs(reference) + (x.Sum(Math.Abs) * 0.1f);
                    Assert.True(Math.Abs(fast - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {r}: DotRow {fast} vs reference {reference}");
                    if (KernelIsa.UseAvx512)
                    {
                        sbyte[] paired = new sbyte[chunks * 32];
                        fixed (sbyte* pp = paired)
                        {
                            Int4Kernels.PairActivations(a.Q, chunks, pp);
                            float wide = Int4Kernels.DotRowAvx512<Nibble4Codes>(pq, (Half*)ps, z, 8, gc, chunks, a.Q, pp, a.D, a.Sums);
                            Assert.True(Math.Abs(wide - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {r}: DotRowAvx512 {wide} vs reference {reference}");
                        }
                    }
                }
            }
        }
    }

    [SkippableTheory]
    [InlineData("int2-g64-asym")]
    [InlineData("int2-g32-sym")]
    [InlineData("int2-g128-asym")]
    [InlineData("int3-g128-asym")]
    [InlineData("int3-g32-sym")]
    public void IntGroupDot4_EqualsReferencePerRow(string specName)
    {
        Skip.IfNot(KernelIsa.UseAvx2, "needs AVX2 + FMA (packed int2/int3 kernel)");
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach (int cols in Widths)
        {
            const int rows = 4;
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, cols), rows, cols);
            int chunks = PackLayout.Chunks(cols), gc = spec.GroupSize / 32, groups = (chunks + gc - 1) / gc;
            int bits = spec.Bits, rowBytes = IntGroupScheme.RowBytes(bits, cols);
            float[] x = Activations(cols, cols);
            float[] scales = MemoryMarshal.Cast<byte, Half>(t["scales"].Data).ToArray().Select(h => (float)h).ToArray();
            byte[] zeros = spec.Symmetric ? [] : t["zeros"].Data;
            float[] result = new float[4], one = new float[4], dsums = new float[groups];
            sbyte[] natural = new sbyte[chunks * 32];
            fixed (byte* q = t["qweight"].Data, pz = zeros, ph = t["scales"].Data)
            fixed (float* px = x, pr = result, po = one, ps = scales, pd = dsums)
            fixed (sbyte* pn = natural)
            {
                ActivationQuantizer.Q8 a = ActivationQuantizer.Quantize(px, 1, cols);
                new ReadOnlySpan<sbyte>(a.Q, chunks * 32).CopyTo(natural);
                Int4Kernels.GroupDSums(a.D, a.Sums, chunks, gc, pd);
                byte* z = spec.Symmetric ? null : pz;
                int zero = IntGroupScheme.SymmetricZero(bits);
                if (bits == 2)
                {
                    IntGroupKernels.PermuteActivations(a.Q, chunks);
                }

                Dot4(q, rowBytes, ps, z, zero, groups, groups, gc, chunks, a.Q, a.D, pd, pr);
                for (int i = 0; i < rows; i++)
                {
                    Dot4(q + (i * rowBytes), 0, ps + (i * groups), z == null ? null : z + (i * groups), zero, 0, groups, gc, chunks, a.Q, a.D, pd, po);
                    Assert.Equal(result[i], one[0]);
                    float reference = IntGroupKernels.DotReference(bits, q + (i * rowBytes), ps + (i * groups), z == null ? null : z + (i * groups), gc, chunks, pn, a.D, pd);
                    float magnitude = 1e-3f + Math.Abs(reference) + (x.Sum(Math.Abs) * 0.1f);
                    Assert.True(Math.Abs(result[i] - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {i}: kernel {result[i]} vs reference {reference}");
                    if (gc <= 8 && System.Numerics.BitOperations.IsPow2(gc))
                    {
                        // The decode row kernel (group factors in registers) on the same activations.
                        Half* hs = (Half*)ph + (i * groups);
                        byte* zi = z == null ? null : z + (i * groups);
                        float row = bits == 2
                            ? Int4Kernels.DotRow<Crumb2Codes>(q + (i * rowBytes), hs, zi, zero, gc, chunks, a.Q, a.D, a.Sums)
                            : Int4Kernels.DotRow<Int3Codes>(q + (i * rowBytes), hs, zi, zero, gc, chunks, a.Q, a.D, a.Sums);
                        Assert.True(Math.Abs(row - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {i}: DotRow {row} vs reference {reference}");
                        if (bits == 2 && KernelIsa.UseAvx512)
                        {
                            // int2's AVX-512 row kernel: two chunks per vector, the activations in the same (permuted) order.
                            float wide = Int4Kernels.DotRowAvx512<Crumb2Codes>(q + (i * rowBytes), hs, zi, zero, gc, chunks, a.Q, a.Q, a.D, a.Sums);
                            Assert.True(Math.Abs(wide - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {i}: DotRowAvx512 {wide} vs reference {reference}");
                        }
                    }
                }

                void Dot4(byte* p, long rowStride, float* s, byte* zp, int symmetricZero, long groupStride, int g, int groupChunks, int n, sbyte* x, float* d, float* ds, float* r)
                {
                    if (bits == 2)
                    {
                        IntGroupKernels.Dot4<Crumb2Codes>(p, rowStride, s, zp, symmetricZero, groupStride, g, groupChunks, n, x, d, ds, r);
                    }
                    else
                    {
                        IntGroupKernels.Dot4<Int3Codes>(p, rowStride, s, zp, symmetricZero, groupStride, g, groupChunks, n, x, d, ds, r);
                    }
                }
            }
        }
    }

    [Fact]
    public void Int2PermuteActivations_MovesInput4kPlusMTo8mPlusK()
    {
        sbyte[] q = Enumerable.Range(0, 96).Select(i => (sbyte)(i - 40)).ToArray();
        fixed (sbyte* p = q)
        {
            IntGroupKernels.PermuteActivations(p, 3);
        }

        for (int c = 0; c < 3; c++)
        {
            for (int k = 0; k < 8; k++)
            {
                for (int m = 0; m < 4; m++)
                {
                    Assert.Equal((sbyte)((c * 32) + (4 * k) + m - 40), q[(c * 32) + (8 * m) + k]);
                }
            }
        }
    }
}

/// <summary>The ternary 4-row decode kernel against the per-row scalar reference.</summary>
public unsafe class TernaryTileKernelTests
{
    [Theory]
    [InlineData("ternary-tensor")]
    [InlineData("ternary-row")]
    [InlineData("ternary-g64")]
    [InlineData("ternary-g128")]
    public void TernaryDot4_EqualsReferencePerRow(string specName)
    {
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach (int cols in new[] { 1, 7, 31, 32, 33, 96, 172, 257, 1000, 2048, 4097 })
        {
            const int rows = 4;
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, cols), rows, cols);
            int chunks = PackLayout.Chunks(cols), rowBytes = PackLayout.RowBytes2(cols);
            int span = TernaryScheme.ScaleSpan(spec, cols);
            int perRow = (cols + span - 1) / span;
            long stride = spec.Granularity == TernaryGranularity.PerTensor ? 0 : perRow;
            int gc = spec.Granularity == TernaryGranularity.PerGroup ? spec.GroupSize / 32 : chunks;
            int groups = (chunks + gc - 1) / gc;
            var rng = new Random(cols);
            float[] x = Enumerable.Range(0, cols).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
            float[] dsums = new float[groups];
            float[] result = new float[4];
            fixed (byte* q = t["qweight"].Data, ps = t["scales"].Data)
            fixed (float* px = x, pd = dsums, pr = result)
            {
                ActivationQuantizer.Q8 a = ActivationQuantizer.Quantize(px, 1, cols);
                Int4Kernels.GroupDSums(a.D, a.Sums, chunks, gc, pd);
                TernaryKernels.Dot4(q, rowBytes, (float*)ps, stride, gc, chunks, a.Q, a.D, pd, pr);
                for (int r = 0; r < rows; r++)
                {
                    float* s = (float*)ps + (r * stride);
                    float reference = TernaryKernels.DotReference(q + (r * rowBytes), s, gc, chunks, a.Q, a.D, a.Sums);
                    float scalar = TernaryKernels.DotReferenceGrouped(q + (r * rowBytes), s, gc, chunks, a.Q, a.D, pd);
                    float magnitude = 1e-3f + (x.Sum(Math.Abs) * s[0]);
                    Assert.True(Math.Abs(result[r] - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {r}: tile {result[r]} vs reference {reference}");
                    Assert.True(Math.Abs(scalar - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {r}: scalar {scalar} vs reference {reference}");
                }
            }
        }
    }

    [SkippableTheory]
    [InlineData("ternary-row")]
    [InlineData("ternary-tensor")]
    public void TernaryDotRowUniformAvx512_EqualsReference(string specName)
    {
        Skip.IfNot(KernelIsa.UseAvx512, "AVX-512 kernel");
        QuantSpec spec = QuantSpec.ParseName(specName);
        foreach (int cols in new[] { 1, 7, 31, 32, 33, 64, 96, 172, 257, 1000, 2048, 4097 })
        {
            const int rows = 3;
            QuantizedTensor t = QuantScheme.Quantize(spec, "w", QuantTestData.Random(rows, cols, cols + 13), rows, cols);
            int chunks = PackLayout.Chunks(cols), rowBytes = PackLayout.RowBytes2(cols);
            float[] x = Enumerable.Range(0, cols).Select(i => (float)Math.Sin(i * 0.37) * (i % 41 == 0 ? 30f : 1f)).ToArray();
            float[] scales = MemoryMarshal.Cast<byte, float>(t["scales"].Data.AsSpan()).ToArray();
            float[] expanded = new float[chunks * 8];
            fixed (byte* q = t["qweight"].Data)
            fixed (float* px = x, ps = scales, pe = expanded)
            {
                ActivationQuantizer.Q8 a = ActivationQuantizer.Quantize(px, 1, cols);
                float ds = TernaryKernels.ExpandScales(a.D, a.Sums, chunks, pe);
                for (int r = 0; r < rows; r++)
                {
                    float* s = ps + (scales.Length == 1 ? 0 : r);
                    float reference = TernaryKernels.DotReference(q + (r * rowBytes), s, chunks, chunks, a.Q, a.D, a.Sums);
                    float fast = TernaryKernels.DotRowUniformAvx512(q + (r * rowBytes), *s, chunks, a.Q, pe, ds);
                    float magnitude = 1e-3f + Math.Abs(reference) + (x.Sum(Math.Abs) * 0.1f * *s);
                    Assert.True(Math.Abs(fast - reference) <= 1e-5f * magnitude, $"{spec} cols {cols} row {r}: {fast} vs {reference}");
                }
            }
        }
    }
}
