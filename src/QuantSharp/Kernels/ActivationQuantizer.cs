using System.Runtime.InteropServices;

namespace QuantSharp.Kernels;

/// <summary>
/// Quantizes activation vectors to int8 once per kernel call, so the int8, int4 and ternary kernels can use
/// integer multiply-adds (<c>maddubs</c>) on packed weights.
/// </summary>
/// <remarks>
/// Per block of 32 inputs: <c>d = max|x| / 127</c>, <c>q = round_half_even(x / d)</c> (multiplying by the float
/// reciprocal <c>1 / d</c>), <c>sum = Σ q</c>; positions past <c>cols</c> (up to a multiple of 32) get q = 0.
/// Error: <c>|x − d · q| ≤ d / 2 = max|x_block| / 254</c> per input, so a dot product with dequantized weights
/// <c>W'</c> moves by at most <c>Σ_b (max|x_b| / 254) · Σ_{c∈b} |W'[r, c]|</c> from the float result (the bound
/// the tests check). Why 32: it matches the packed chunk, so one scale multiplies one <c>maddubs</c> result and an
/// outlier only coarsens its own block.
/// </remarks>
[SkipLocalsInit]
internal static unsafe class ActivationQuantizer
{
    /// <summary>Inputs per activation scale.</summary>
    internal const int Block = 32;

    [ThreadStatic]
    private static byte* t_buffer;

    [ThreadStatic]
    private static nuint t_size;

    /// <summary>Padded length of a row of <paramref name="cols"/> inputs.</summary>
    internal static int PaddedCols(int cols) => (cols + Block - 1) / Block * Block;

    /// <summary>A 64-byte aligned buffer owned by the calling thread, separate from <see cref="ThreadScratch"/> so
    /// the caller's own slice of a parallel kernel can still use that one.</summary>
    internal static byte* Scratch(nuint bytes)
    {
        if (t_size < bytes)
        {
            if (t_buffer != null)
            {
                NativeMemory.AlignedFree(t_buffer);
            }

            nuint size = Math.Max(bytes, 64 * 1024);
            t_buffer = (byte*)NativeMemory.AlignedAlloc(size, 64);
            t_size = size;
        }

        return t_buffer;
    }

    /// <summary>Quantized activations of <c>tokens</c> rows: <c>Q</c> is tokens × padded cols sbytes, <c>D</c> and
    /// <c>Sums</c> tokens × chunks; all in the calling thread's scratch, valid until its next call.</summary>
    internal readonly struct Q8
    {
        public readonly sbyte* Q;
        public readonly float* D;
        public readonly int* Sums;
        public readonly int Chunks;

        public Q8(sbyte* q, float* d, int* sums, int chunks)
        {
            Q = q;
            D = d;
            Sums = sums;
            Chunks = chunks;
        }
    }

    /// <summary>Quantizes <paramref name="tokens"/> rows of <paramref name="cols"/> floats.</summary>
    internal static Q8 Quantize(float* x, int tokens, int cols)
    {
        int chunks = (cols + Block - 1) / Block;
        long qBytes = ((long)tokens * chunks * Block + 63) & ~63L;
        long dBytes = ((long)tokens * chunks * sizeof(float) + 63) & ~63L;
        byte* buffer = Scratch((nuint)(qBytes + (2 * dBytes)));
        var result = new Q8((sbyte*)buffer, (float*)(buffer + qBytes), (int*)(buffer + qBytes + dBytes), chunks);
        for (int t = 0; t < tokens; t++)
        {
            QuantizeRow(x + ((long)t * cols), cols, result.Q + ((long)t * chunks * Block), result.D + ((long)t * chunks), result.Sums + ((long)t * chunks));
        }

        return result;
    }

    /// <summary>Writes <paramref name="tokens"/> rows of <paramref name="x"/> as <see cref="Quantize"/> rounds them
    /// (<c>d · q</c> per input) to <paramref name="destination"/>: for a float kernel whose results must agree with the
    /// int8 decode kernels of the same weight.</summary>
    internal static void Round(float* x, int tokens, int cols, float* destination)
    {
        Q8 q8 = Quantize(x, tokens, cols);
        for (int t = 0; t < tokens; t++)
        {
            sbyte* q = q8.Q + ((long)t * q8.Chunks * Block);
            float* d = q8.D + ((long)t * q8.Chunks);
            float* o = destination + ((long)t * cols);
            for (int k = 0; k < cols; k++)
            {
                o[k] = q[k] * d[k / Block];
            }
        }
    }

    /// <summary>Quantizes one row into <c>q</c> (padded to whole blocks), <c>d</c> and <c>sums</c> (one per block).</summary>
    internal static void QuantizeRow(float* x, int cols, sbyte* q, float* d, int* sums)
    {
        int chunks = (cols + Block - 1) / Block;
        int b = 0;
        if (Avx2.IsSupported)
        {
            // Whole blocks with AVX2: the same scale, reciprocal, round-half-even and clamp as the scalar loop below, so
            // the results are identical; 8-10x faster, which matters in prefill, where this runs on one thread before
            // each parallel matrix product.
            for (; (b + 1) * Block <= cols; b++)
            {
                QuantizeBlockAvx2(x + (b * Block), q + (b * Block), out d[b], out sums[b]);
            }
        }

        for (; b < chunks; b++)
        {
            int start = b * Block;
            int n = Math.Min(Block, cols - start);
            float amax = 0;
            for (int i = 0; i < n; i++)
            {
                amax = Math.Max(amax, Math.Abs(x[start + i]));
            }

            float scale = amax / 127f;
            float inverse = scale == 0 ? 0 : 1f / scale;
            int sum = 0;
            for (int i = 0; i < n; i++)
            {
                int v = (int)Math.Clamp(MathF.Round(x[start + i] * inverse), -127f, 127f);
                q[start + i] = (sbyte)v;
                sum += v;
            }

            for (int i = n; i < Block; i++)
            {
                q[start + i] = 0;
            }

            d[b] = scale;
            sums[b] = sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuantizeBlockAvx2(float* x, sbyte* q, out float d, out int sum)
    {
        Vector256<float> a0 = Avx.LoadVector256(x), a1 = Avx.LoadVector256(x + 8), a2 = Avx.LoadVector256(x + 16), a3 = Avx.LoadVector256(x + 24);
        Vector256<float> m = Avx.Max(Avx.Max(Vector256.Abs(a0), Vector256.Abs(a1)), Avx.Max(Vector256.Abs(a2), Vector256.Abs(a3)));
        Vector128<float> m4 = Sse.Max(m.GetLower(), m.GetUpper());
        m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b01_00_11_10));
        m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b10_11_00_01));
        float amax = m4.ToScalar();
        float scale = amax / 127f;
        var inverse = Vector256.Create(scale == 0 ? 0 : 1f / scale);
        Vector256<float> lo = Vector256.Create(-127f), hi = Vector256.Create(127f);
        Vector256<int> i0 = Avx.ConvertToVector256Int32(Avx.Min(Avx.Max(Avx.RoundToNearestInteger(a0 * inverse), lo), hi));
        Vector256<int> i1 = Avx.ConvertToVector256Int32(Avx.Min(Avx.Max(Avx.RoundToNearestInteger(a1 * inverse), lo), hi));
        Vector256<int> i2 = Avx.ConvertToVector256Int32(Avx.Min(Avx.Max(Avx.RoundToNearestInteger(a2 * inverse), lo), hi));
        Vector256<int> i3 = Avx.ConvertToVector256Int32(Avx.Min(Avx.Max(Avx.RoundToNearestInteger(a3 * inverse), lo), hi));
        sum = Vector256.Sum((i0 + i1) + (i2 + i3));
        Vector256<sbyte> packed = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
        Avx.Store(q, Avx2.PermuteVar8x32(packed.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte());
        d = scale;
    }

    /// <summary>Copies <paramref name="tokens"/> rows of <paramref name="cols"/> floats into the calling thread's scratch with each row
    /// zero-padded to a whole number of 32-blocks (for the float-activation NF4/FP4 kernel).</summary>
    internal static float* PadFloats(float* x, int tokens, int cols)
    {
        int padded = PaddedCols(cols);
        float* buffer = (float*)Scratch((nuint)((long)tokens * padded * sizeof(float)));
        for (int t = 0; t < tokens; t++)
        {
            float* row = buffer + ((long)t * padded);
            Buffer.MemoryCopy(x + ((long)t * cols), row, cols * 4L, cols * 4L);
            new Span<float>(row + cols, padded - cols).Clear();
        }

        return buffer;
    }
}
