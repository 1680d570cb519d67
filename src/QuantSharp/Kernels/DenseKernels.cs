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

    /// <summary>
    /// <c>y[t · yStride + r] = Σ_k w[r][k] · x[t][k]</c> for <paramref name="rows"/> contiguous F32 weight rows and
    /// <paramref name="tokens"/> activation rows (both <paramref name="cols"/> long), one vectorised dot product each:
    /// the fallback where <see cref="DenseGemm"/> cannot run (no AVX2).
    /// </summary>
    internal static void Gemm(float* w, int rows, int cols, float* x, int tokens, float* y, long yStride)
    {
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < rows; r++)
            {
                y[(t * yStride) + r] = Dot(w + ((long)r * cols), x + ((long)t * cols), cols);
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
