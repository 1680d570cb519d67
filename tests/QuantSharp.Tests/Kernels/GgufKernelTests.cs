using QuantSharp.Quantization.Gguf;
using QuantSharp.Formats.Gguf;
using QuantSharp.Kernels;
using QuantSharp.Tests.Formats.Gguf;

namespace QuantSharp.Tests.Kernels;

public unsafe class GgufKernelTests
{
    public static TheoryData<GgmlType> DirectTypes() => new() { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.TQ2_0, GgmlType.Q2_0, GgmlType.IQ4_NL };

    private static (GgufFile File, GgufTensorInfo Tensor, float[] Dense) MakeWeight(GgmlType type, int rows, int cols, int seed)
    {
        float[] w = GgufTestFiles.RandomFloats(rows * cols, seed, 0.05f);
        using var writer = new GgufWriter();
        writer.AddTensor("w", type, [cols, rows], type == GgmlType.Q2_0 ? RandomQ2_0(rows * cols / 64, seed) : GgufQuantize.Matrix(type, w, rows, cols));
        GgufFile file = GgufFile.Parse(writer.ToArray(), $"{type}-{rows}x{cols}");
        GgufTensorInfo t = file.GetTensor("w");
        return (file, t, t.ToFloatArray());
    }

    /// <summary>Q2_0 blocks with every code (0–3) equally likely: llama.cpp's quantizer (scale = largest magnitude)
    /// leaves most codes at 1 (zero) and never writes 3, which would leave the kernels' bit order barely tested.</summary>
    private static byte[] RandomQ2_0(int blocks, int seed)
    {
        var rng = new Random(seed);
        var data = new byte[blocks * 18];
        rng.NextBytes(data);
        for (int b = 0; b < blocks; b++)
        {
            BitConverter.TryWriteBytes(data.AsSpan(b * 18, 2), (Half)(0.01f + (0.05f * rng.NextSingle())));
        }

        return data;
    }

    private static IEnumerable<int> ColumnCounts(GgmlType type) => GgmlTypeInfo.BlockSize(type) switch
    {
        32 => Enumerable.Range(1, 16).Select(b => 32 * b),
        64 => Enumerable.Range(1, 9).Select(b => 64 * b), // odd block counts end in the kernel's one-block tail
        _ => [256, 512, 768, 1024],
    };

    [Theory]
    [MemberData(nameof(DirectTypes))]
    public void FastPath_MatchesScalarReference(GgmlType type)
    {
        foreach (int cols in ColumnCounts(type))
        {
            foreach (int rows in new[] { 1, 3, 8, 17 })
            {
                var (file, tensor, dense) = MakeWeight(type, rows, cols, cols * 31 + rows);
                using (file)
                {
                    var linear = new GgufLinear(tensor);
                    foreach (int tokens in new[] { 1, 2, 5 })
                    {
                        float[] x = GgufTestFiles.RandomFloats(tokens * cols, tokens + cols);
                        var fast = new float[tokens * rows];
                        var reference = new float[tokens * rows];
                        if (tokens == 1)
                        {
                            linear.MatVec(x, fast);
                        }
                        else
                        {
                            linear.MatMul(x, tokens, fast);
                        }

                        linear.MatMulScalar(x, tokens, reference);
                        for (int t = 0; t < tokens; t++)
                        {
                            for (int r = 0; r < rows; r++)
                            {
                                double magnitude = 0;
                                for (int c = 0; c < cols; c++)
                                {
                                    magnitude += Math.Abs(dense[r * cols + c] * x[t * cols + c]);
                                }

                                float a = fast[t * rows + r], b = reference[t * rows + r];
                                Assert.True(Math.Abs(a - b) <= 1e-5 * magnitude + 1e-30,
                                    $"{type} {rows}x{cols} tokens={tokens} t={t} r={r}: fast {a} vs scalar {b} (magnitude {magnitude})");
                            }
                        }
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(DirectTypes))]
    public void ScalarReference_EqualsDequantizedWeightsTimesQuantizedActivations(GgmlType type)
    {
        int cols = GgmlTypeInfo.BlockSize(type) == 32 ? 160 : 512, rows = 6;
        var (file, tensor, dense) = MakeWeight(type, rows, cols, 7);
        using (file)
        {
            var linear = new GgufLinear(tensor);
            float[] x = GgufTestFiles.RandomFloats(cols, 99);
            var y = new float[rows];
            linear.MatMulScalar(x, 1, y);

            // The activations as the kernel sees them: int8 per 32 with a float scale.
            var xq = new double[cols];
            sbyte* q = stackalloc sbyte[32];
            fixed (float* px = x)
            {
                for (int b = 0; b < cols / 32; b++)
                {
                    QuantizeBlockByFormula(px + 32 * b, q, out float scale, out _);
                    for (int i = 0; i < 32; i++)
                    {
                        xq[32 * b + i] = (double)scale * q[i];
                    }
                }
            }

            for (int r = 0; r < rows; r++)
            {
                double expected = 0, magnitude = 0;
                for (int c = 0; c < cols; c++)
                {
                    expected += dense[r * cols + c] * xq[c];
                    magnitude += Math.Abs(dense[r * cols + c] * xq[c]);
                }

                Assert.True(Math.Abs(y[r] - expected) <= 1e-5 * magnitude, $"{type} row {r}: kernel {y[r]} vs {expected}");

                // And against unquantized activations: int8 activations cost well under 1% of the magnitude.
                double exact = 0;
                for (int c = 0; c < cols; c++)
                {
                    exact += dense[r * cols + c] * (double)x[c];
                }

                Assert.True(Math.Abs(y[r] - exact) <= 0.01 * magnitude, $"{type} row {r}: kernel {y[r]} vs float {exact}");
            }
        }
    }

    /// <summary>The documented activation quantization of one 32-block, computed here: d = max|x| / 127,
    /// q = clamp(round_half_even(x · (1 / d)), ±127), sum = Σ q.</summary>
    private static void QuantizeBlockByFormula(float* x, sbyte* q, out float scale, out int sum)
    {
        float amax = 0;
        for (int i = 0; i < 32; i++)
        {
            amax = Math.Max(amax, MathF.Abs(x[i]));
        }

        scale = amax / 127f;
        float inverse = scale == 0 ? 0 : 1f / scale;
        sum = 0;
        for (int i = 0; i < 32; i++)
        {
            int v = (int)Math.Clamp(MathF.Round(x[i] * inverse), -127f, 127f);
            q[i] = (sbyte)v;
            sum += v;
        }
    }

    [Fact]
    public void ActivationQuantization_FastEqualsScalar()
    {
        byte* scratch = stackalloc byte[(int)GgufActivations.ScratchBytes(1, 32)];
        sbyte* q = stackalloc sbyte[32];
        foreach (int seed in Enumerable.Range(0, 50))
        {
            float[] x = GgufTestFiles.RandomFloats(32, seed, seed % 7 == 0 ? 0f : (float)Math.Pow(10, seed % 9 - 4));
            x[seed % 32] = seed % 3 == 0 ? -x[seed % 32] * 3 : x[seed % 32];
            fixed (float* px = x)
            {
                GgufActivations.Quantize(px, 1, 32, scratch);
                GgufActivations a = GgufActivations.At(scratch, 1, 32, 0);
                QuantizeBlockByFormula(px, q, out float scale, out int sum);
                Assert.Equal(scale, a.Scale[0]);
                Assert.Equal(sum, a.Sum[0]);
                Assert.True(new ReadOnlySpan<sbyte>(q, 32).SequenceEqual(new ReadOnlySpan<sbyte>(a.Q, 32)), $"seed {seed}");
            }
        }
    }

    [Fact]
    public void RealLayerShape_Q4K_4096()
    {
        var (file, tensor, dense) = MakeWeight(GgmlType.Q4_K, 64, 4096, 5);
        using (file)
        {
            ILinearWeight linear = GgufLinear.Create(tensor);
            Assert.IsType<GgufLinear>(linear);
            Assert.Equal("gguf-q4_k", linear.Scheme);
            Assert.Equal(64 * 4096 / 256 * 144, linear.BytesInMemory);
            float[] x = GgufTestFiles.RandomFloats(3 * 4096, 1);
            var y = new float[3 * 64];
            var reference = new float[3 * 64];
            linear.MatMul(x, 3, y);
            ((GgufLinear)linear).MatMulScalar(x, 3, reference);
            for (int i = 0; i < y.Length; i++)
            {
                Assert.True(Math.Abs(y[i] - reference[i]) <= 1e-4 * (1 + Math.Abs(reference[i])), $"{i}: {y[i]} vs {reference[i]}");
            }

            var row = new float[4096];
            linear.DequantizeRow(5, row);
            Assert.Equal(dense.AsSpan(5 * 4096, 4096).ToArray(), row);
        }
    }

    public static TheoryData<GgmlType> OtherTypes() => new() { GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q5_K, GgmlType.TQ1_0, GgmlType.F16, GgmlType.BF16, GgmlType.F32 };

    [Theory]
    [MemberData(nameof(OtherTypes))]
    public void Create_OtherTypes_DequantizeThenDot(GgmlType type)
    {
        int cols = GgmlTypeInfo.BlockSize(type) == 256 ? 512 : 96, rows = 5;
        var (file, tensor, dense) = MakeWeight(type, rows, cols, 3);
        using (file)
        {
            ILinearWeight linear = GgufLinear.Create(tensor);
            Assert.Equal(rows, linear.Rows);
            Assert.Equal(cols, linear.Cols);
            if (type is GgmlType.F16 or GgmlType.BF16 or GgmlType.F32)
            {
                Assert.IsType<DenseLinear>(linear);
            }
            else
            {
                Assert.IsType<GgufDequantLinear>(linear);
            }

            float[] x = GgufTestFiles.RandomFloats(2 * cols, 4);
            var y = new float[2 * rows];
            linear.MatMul(x, 2, y);
            for (int t = 0; t < 2; t++)
            {
                for (int r = 0; r < rows; r++)
                {
                    double expected = 0, magnitude = 0;
                    for (int c = 0; c < cols; c++)
                    {
                        expected += dense[r * cols + c] * (double)x[t * cols + c];
                        magnitude += Math.Abs(dense[r * cols + c] * (double)x[t * cols + c]);
                    }

                    Assert.True(Math.Abs(y[t * rows + r] - expected) <= 1e-5 * magnitude, $"{type} t={t} r={r}: {y[t * rows + r]} vs {expected}");
                }
            }
        }
    }

    [Fact]
    public void Create_RejectsUnsupportedOrNon2D()
    {
        using var writer = new GgufWriter();
        writer.AddTensor("iq", GgmlType.MXFP4, [32, 1], new byte[17]);
        writer.AddTensor("v", GgmlType.Q8_0, [32], new byte[34]);
        using GgufFile file = GgufFile.Parse(writer.ToArray(), "x.gguf");
        Assert.Equal(GgufError.UnsupportedTensorType, Assert.Throws<GgufException>(() => GgufLinear.Create(file.GetTensor("iq"))).Error);
        Assert.Equal(GgufError.BadShape, Assert.Throws<GgufException>(() => GgufLinear.Create(file.GetTensor("v"))).Error);
    }
}
