using QuantSharp.Quantization;

namespace QuantSharp.Kernels;

/// <summary>Common part of the quantized <see cref="ILinearWeight"/>s: the packed tensors, shapes and size checks.
/// Subclasses read <see cref="Packed"/> in place; no call allocates.</summary>
public abstract class PackedLinear : ILinearWeight
{
    private protected PackedLinear(PackedWeight packed, QuantSchemeKind expected)
    {
        if (packed.Spec.Kind != expected && !(expected == QuantSchemeKind.Nf4 && packed.Spec.Kind == QuantSchemeKind.Fp4))
        {
            throw new ArgumentException($"{packed.Prefix}: a {packed.Spec.Name} weight cannot be read as {expected}");
        }

        Packed = packed;
        Rows = packed.Rows;
        Cols = packed.Cols;
    }

    /// <summary>The stored tensors this weight reads.</summary>
    public PackedWeight Packed { get; }

    /// <summary>The scheme and its parameters.</summary>
    public QuantSpec Spec => Packed.Spec;

    /// <inheritdoc />
    public int Rows { get; }

    /// <inheritdoc />
    public int Cols { get; }

    /// <inheritdoc />
    public string Scheme => Packed.Spec.Name;

    /// <inheritdoc />
    public long BytesInMemory => Packed.ByteLength;

    /// <inheritdoc />
    public void MatVec(ReadOnlySpan<float> x, Span<float> y) => MatMul(x, 1, y);

    /// <inheritdoc />
    public void MatMul(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        LinearDriver.CheckSizes(Packed.Prefix, Rows, Cols, x.Length, tokens, y.Length);

        Multiply(x, tokens, y);
    }

    /// <summary>Computes <c>Y = X · W'ᵀ</c> for validated sizes.</summary>
    private protected abstract void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y);

    /// <inheritdoc />
    public void DequantizeRow(int row, Span<float> destination)
    {
        LinearDriver.CheckRow(Packed.Prefix, Rows, Cols, row, destination.Length);

        Dequantize(row, destination[..Cols]);
    }

    /// <summary>Writes row <paramref name="row"/> (validated) into exactly Cols floats.</summary>
    private protected abstract void Dequantize(int row, Span<float> destination);

    /// <summary>Rows dequantized to F32 at a time by <see cref="MultiplyDequantized"/> (48 rows × 2048 floats = 384 KiB,
    /// in L2; a multiple of <see cref="DenseGemm.Rows"/>).</summary>
    private const int DequantRows = 48;

    /// <summary>
    /// A multi-token product for schemes (or CPUs) without an integer prefill kernel: the rows are dequantized 64 at a
    /// time (once each, however many tokens) and multiplied by the F32 activations with the blocked F32 GEMM.
    /// </summary>
    private protected unsafe void MultiplyDequantized(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        fixed (float* px = x, py = y)
        {
            float[]? transposed = tokens > 1 ? DenseGemm.RentTransposed(px, tokens, Cols) : null;
            try
            {
                fixed (float* pxt = transposed)
                {
                    var job = new DequantizedJob { Self = this, X = px, XT = pxt, Y = py, Tokens = tokens };
                    LinearDriver.Run(ref job, &DequantizedSlice, Rows, Cols, tokens, grain: 4);
                }
            }
            finally
            {
                DenseGemm.Return(transposed);
            }
        }
    }

    private unsafe struct DequantizedJob
    {
        public PackedLinear Self;
        public float* X;
        public float* XT;
        public float* Y;
        public int Tokens;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DequantizedSlice(ref DequantizedJob job, int start, int end)
    {
        PackedLinear self = job.Self;
        int cols = self.Cols;
        int chunk = job.Tokens == 1 ? 1 : DequantRows;
        float* tile = ThreadScratch.Floats((long)chunk * cols);
        for (int r0 = start; r0 < end; r0 += chunk)
        {
            int count = Math.Min(chunk, end - r0);
            for (int i = 0; i < count; i++)
            {
                self.Dequantize(r0 + i, new Span<float>(tile + ((long)i * cols), cols));
            }

            DenseGemm.Gemm(tile, count, cols, job.X, job.XT, job.Tokens, job.Y + r0, self.Rows);
        }
    }
}
