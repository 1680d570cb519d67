using System.Numerics.Tensors;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>Dot-product micro-kernels on float rows, with the scalar references the SIMD paths are tested against.</summary>
[SkipLocalsInit]
internal static unsafe class DenseKernels
{
    /// <summary>Scalar reference: Σ a[i]·b[i] accumulated in double.</summary>
    internal static float DotReference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sum += (double)a[i] * b[i];
        }

        return (float)sum;
    }

    /// <summary>Dot products of 4 weight rows (stride <paramref name="stride"/> floats) with 2 activation rows:
    /// <c>result[2·r + t] = Σ_k w[r][k] · x_t[k]</c>. Eight accumulators; the loads of x are shared across rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4x2(float* w, nint stride, float* x0, float* x1, int k, float* result)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && k >= 8)
        {
            Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
            Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
            float* w1 = w + stride, w2 = w + 2 * stride, w3 = w + 3 * stride;
            for (; i + 8 <= k; i += 8)
            {
                Vector256<float> v0 = Vector256.Load(x0 + i);
                Vector256<float> v1 = Vector256.Load(x1 + i);
                Vector256<float> r = Vector256.Load(w + i);
                a00 = Vector256.FusedMultiplyAdd(r, v0, a00);
                a01 = Vector256.FusedMultiplyAdd(r, v1, a01);
                r = Vector256.Load(w1 + i);
                a10 = Vector256.FusedMultiplyAdd(r, v0, a10);
                a11 = Vector256.FusedMultiplyAdd(r, v1, a11);
                r = Vector256.Load(w2 + i);
                a20 = Vector256.FusedMultiplyAdd(r, v0, a20);
                a21 = Vector256.FusedMultiplyAdd(r, v1, a21);
                r = Vector256.Load(w3 + i);
                a30 = Vector256.FusedMultiplyAdd(r, v0, a30);
                a31 = Vector256.FusedMultiplyAdd(r, v1, a31);
            }

            result[0] = Vector256.Sum(a00);
            result[1] = Vector256.Sum(a01);
            result[2] = Vector256.Sum(a10);
            result[3] = Vector256.Sum(a11);
            result[4] = Vector256.Sum(a20);
            result[5] = Vector256.Sum(a21);
            result[6] = Vector256.Sum(a30);
            result[7] = Vector256.Sum(a31);
        }
        else
        {
            new Span<float>(result, 8).Clear();
        }

        for (; i < k; i++)
        {
            for (int r = 0; r < 4; r++)
            {
                float wv = w[r * stride + i];
                result[2 * r] += wv * x0[i];
                result[2 * r + 1] += wv * x1[i];
            }
        }
    }

    /// <summary>Dot products of 4 weight rows (stride <paramref name="stride"/> floats) with 4 activation rows (stride
    /// <paramref name="xStride"/>): <c>result[4·r + t] = Σ_k w[r][k] · x_t[k]</c>. Sixteen 512-bit accumulators, each
    /// load of w or x shared by four FMAs (the prefill micro-kernel on AVX-512; callers check
    /// <see cref="Vector512.IsHardwareAccelerated"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4x4(float* w, nint stride, float* x, nint xStride, int k, float* result)
    {
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        float* w1 = w + stride, w2 = w + (2 * stride), w3 = w + (3 * stride);
        float* x1 = x + xStride, x2 = x + (2 * xStride), x3 = x + (3 * xStride);
        int i = 0;
        for (; i + 16 <= k; i += 16)
        {
            Vector512<float> r0 = Vector512.Load(w + i), r1 = Vector512.Load(w1 + i), r2 = Vector512.Load(w2 + i), r3 = Vector512.Load(w3 + i);
            Vector512<float> v = Vector512.Load(x + i);
            a00 = Vector512.FusedMultiplyAdd(r0, v, a00);
            a10 = Vector512.FusedMultiplyAdd(r1, v, a10);
            a20 = Vector512.FusedMultiplyAdd(r2, v, a20);
            a30 = Vector512.FusedMultiplyAdd(r3, v, a30);
            v = Vector512.Load(x1 + i);
            a01 = Vector512.FusedMultiplyAdd(r0, v, a01);
            a11 = Vector512.FusedMultiplyAdd(r1, v, a11);
            a21 = Vector512.FusedMultiplyAdd(r2, v, a21);
            a31 = Vector512.FusedMultiplyAdd(r3, v, a31);
            v = Vector512.Load(x2 + i);
            a02 = Vector512.FusedMultiplyAdd(r0, v, a02);
            a12 = Vector512.FusedMultiplyAdd(r1, v, a12);
            a22 = Vector512.FusedMultiplyAdd(r2, v, a22);
            a32 = Vector512.FusedMultiplyAdd(r3, v, a32);
            v = Vector512.Load(x3 + i);
            a03 = Vector512.FusedMultiplyAdd(r0, v, a03);
            a13 = Vector512.FusedMultiplyAdd(r1, v, a13);
            a23 = Vector512.FusedMultiplyAdd(r2, v, a23);
            a33 = Vector512.FusedMultiplyAdd(r3, v, a33);
        }

        result[0] = Vector512.Sum(a00); result[1] = Vector512.Sum(a01); result[2] = Vector512.Sum(a02); result[3] = Vector512.Sum(a03);
        result[4] = Vector512.Sum(a10); result[5] = Vector512.Sum(a11); result[6] = Vector512.Sum(a12); result[7] = Vector512.Sum(a13);
        result[8] = Vector512.Sum(a20); result[9] = Vector512.Sum(a21); result[10] = Vector512.Sum(a22); result[11] = Vector512.Sum(a23);
        result[12] = Vector512.Sum(a30); result[13] = Vector512.Sum(a31); result[14] = Vector512.Sum(a32); result[15] = Vector512.Sum(a33);
        for (; i < k; i++)
        {
            for (int r = 0; r < 4; r++)
            {
                float wv = w[(r * stride) + i];
                for (int t = 0; t < 4; t++)
                {
                    result[(4 * r) + t] += wv * x[(t * xStride) + i];
                }
            }
        }
    }

    /// <summary>Tokens whose activations stay cache-resident while <see cref="Gemm"/> sweeps its rows (64 tokens × 1536
    /// floats = 384 KiB, in L2).</summary>
    internal const int TokenBlock = 64;

    /// <summary>
    /// <c>y[t · yStride + r] = Σ_k w[r][k] · x[t][k]</c> for <paramref name="rows"/> contiguous F32 weight rows and
    /// <paramref name="tokens"/> activation rows (both <paramref name="cols"/> long): token blocks outside so their
    /// activations stay in cache, 4-row tiles inside, 4×4 dot tiles on AVX-512, 4×2 on AVX2, single dots for the rest.
    /// </summary>
    internal static void Gemm(float* w, int rows, int cols, float* x, int tokens, float* y, long yStride)
    {
        float* acc = stackalloc float[16];
        bool wide = Vector512.IsHardwareAccelerated;
        for (int tb = 0; tb < tokens; tb += TokenBlock)
        {
            int tEnd = Math.Min(tokens, tb + TokenBlock);
            for (int r0 = 0; r0 < rows; r0 += 4)
            {
                int rowCount = Math.Min(4, rows - r0);
                float* wr = w + ((long)r0 * cols);
                int t = tb;
                if (rowCount == 4)
                {
                    for (; wide && t + 4 <= tEnd; t += 4)
                    {
                        Dot4x4(wr, cols, x + ((long)t * cols), cols, cols, acc);
                        for (int i = 0; i < 4; i++)
                        {
                            for (int j = 0; j < 4; j++)
                            {
                                y[((t + j) * yStride) + r0 + i] = acc[(4 * i) + j];
                            }
                        }
                    }

                    for (; t + 2 <= tEnd; t += 2)
                    {
                        float* x0 = x + ((long)t * cols);
                        Dot4x2(wr, cols, x0, x0 + cols, cols, acc);
                        float* y0 = y + (t * yStride) + r0;
                        float* y1 = y0 + yStride;
                        y0[0] = acc[0]; y1[0] = acc[1];
                        y0[1] = acc[2]; y1[1] = acc[3];
                        y0[2] = acc[4]; y1[2] = acc[5];
                        y0[3] = acc[6]; y1[3] = acc[7];
                    }
                }

                for (; t < tEnd; t++)
                {
                    for (int i = 0; i < rowCount; i++)
                    {
                        y[(t * yStride) + r0 + i] = Dot(wr + ((long)i * cols), x + ((long)t * cols), cols);
                    }
                }
            }
        }
    }

    /// <summary>Dot product of one row with one vector (TensorPrimitives is already vectorised and unrolled).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot(float* a, float* b, int k) => TensorPrimitives.Dot(new ReadOnlySpan<float>(a, k), new ReadOnlySpan<float>(b, k));

    /// <summary>Converts <paramref name="count"/> elements of a float-typed row to F32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ToFloat(DType dtype, byte* source, float* destination, int count)
    {
        switch (dtype)
        {
            case DType.F32:
                Buffer.MemoryCopy(source, destination, count * 4L, count * 4L);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, count), new Span<float>(destination, count));
                break;
            case DType.BF16:
                BFloat16.ToSingle(new ReadOnlySpan<ushort>(source, count), new Span<float>(destination, count));
                break;
            default:
                throw new NotSupportedException(dtype.ToString());
        }
    }
}
