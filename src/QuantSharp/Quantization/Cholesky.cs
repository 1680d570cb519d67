using System.Numerics.Tensors;

namespace QuantSharp.Quantization;

/// <summary>Dense symmetric positive-definite helpers in double precision (row-major n × n), for GPTQ.</summary>
public static class Cholesky
{
    /// <summary>In place: the lower factor L with <c>A = L·Lᵀ</c> (upper triangle zeroed). False when A is not
    /// positive definite (a pivot ≤ 0), leaving A partly overwritten.</summary>
    public static bool FactorLower(double[] a, int n)
    {
        for (int j = 0; j < n; j++)
        {
            ReadOnlySpan<double> rowJ = a.AsSpan(j * n, j);
            double sum = a[(j * n) + j] - TensorPrimitives.Dot(rowJ, rowJ);

            if (!(sum > 0))
            {
                return false;
            }

            double ljj = Math.Sqrt(sum);
            a[(j * n) + j] = ljj;
            for (int i = j + 1; i < n; i++)
            {
                a[(i * n) + j] = (a[(i * n) + j] - TensorPrimitives.Dot(a.AsSpan(i * n, j), rowJ)) / ljj;
            }

            for (int k = j + 1; k < n; k++)
            {
                a[(j * n) + k] = 0;
            }
        }

        return true;
    }

    /// <summary>The inverse of <c>L·Lᵀ</c> from its lower factor (as torch.cholesky_inverse): <c>(L⁻¹)ᵀ·L⁻¹</c>.</summary>
    public static double[] InverseFromLower(double[] l, int n)
    {
        // Invert L (lower triangular) column by column by forward substitution; column j of L⁻¹ is kept as row j of
        // invT, so every inner product runs over contiguous memory.
        double[] invT = new double[n * n];
        Parallel.For(0, n, j =>
        {
            Span<double> column = invT.AsSpan(j * n, n);
            column[j] = 1.0 / l[(j * n) + j];
            for (int i = j + 1; i < n; i++)
            {
                column[i] = -TensorPrimitives.Dot(l.AsSpan((i * n) + j, i - j), column.Slice(j, i - j)) / l[(i * n) + i];
            }
        });

        // A⁻¹ = L⁻ᵀ·L⁻¹: entry (i, j) = Σ_k L⁻¹[k, i]·L⁻¹[k, j] over k ≥ max(i, j).
        double[] result = new double[n * n];
        Parallel.For(0, n, i =>
        {
            for (int j = i; j < n; j++)
            {
                double s = TensorPrimitives.Dot(invT.AsSpan((i * n) + j, n - j), invT.AsSpan((j * n) + j, n - j));
                result[(i * n) + j] = s;
                result[(j * n) + i] = s;
            }
        });
        return result;
    }

    /// <summary>
    /// GPTQ's preconditioner: the upper Cholesky factor U of <c>H⁻¹</c> (<c>H⁻¹ = Uᵀ·U</c>), computed as in the
    /// reference (<c>cholesky_inverse(cholesky(H))</c>, then <c>cholesky(·, upper=True)</c>). False when H is not
    /// positive definite.
    /// </summary>
    public static bool UpperOfInverse(double[] h, int n, out double[] upper)
    {
        upper = [];
        double[] l = (double[])h.Clone();
        if (!FactorLower(l, n))
        {
            return false;
        }

        double[] inv = InverseFromLower(l, n);
        if (!FactorLower(inv, n))
        {
            return false;
        }

        // Upper factor = transpose of the lower one.
        upper = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                upper[(j * n) + i] = inv[(i * n) + j];
            }
        }

        return true;
    }
}
