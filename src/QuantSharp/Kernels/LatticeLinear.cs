using QuantSharp.Formats.Gguf;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// A lattice codebook weight (iq2_xs, iq2_s, iq3_xxs, iq3_s): <c>qweight</c> holds each row's GGUF blocks, multiplied
/// by <see cref="LatticeProduct"/> (int8 activations; without AVX2, decode dots each row's groups with the float
/// activations through <see cref="LatticeKernels"/> and prefill decodes 64 rows at a time for the blocked F32 GEMM).
/// </summary>
internal sealed unsafe class LatticeLinear : PackedLinear
{
    private readonly byte* _q;
    private readonly int _rowBytes;
    private readonly GgmlType _type;

    /// <summary>Validates and wraps a packed lattice weight.</summary>
    /// <exception cref="QuantSharpException">A part is missing or of the wrong dtype or shape, or the row length is not a multiple of 256.</exception>
    public LatticeLinear(PackedWeight packed)
        : base(packed, packed.Spec.Kind)
    {
        LatticeFormat format = LatticeFormat.For(packed.Spec.Kind) ?? throw new ArgumentException($"{packed.Prefix}: {packed.Spec.Name} is not a lattice scheme");
        LatticeScheme.CheckShape(packed.Prefix, packed.Cols);
        _type = format.Type;
        _rowBytes = packed.Cols / LatticeFormat.BlockWeights * format.BlockBytes;
        _q = packed.Require("qweight", DType.U8, packed.Rows, _rowBytes).Pointer;
    }

    /// <summary>The GGUF block type of each row.</summary>
    public GgmlType BlockType => _type;

    /// <summary>Row <paramref name="row"/>'s blocks as stored (export copies them unchanged).</summary>
    public ReadOnlySpan<byte> RowData(int row)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Rows, nameof(row));
        return new ReadOnlySpan<byte>(_q + ((long)row * _rowBytes), _rowBytes);
    }

    private protected override void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        if (LatticeProduct.Handles(_type))
        {
            fixed (float* px = x, py = y)
            {
                LatticeProduct.Multiply(_type, _q, _rowBytes, Rows, Cols, px, tokens, py);
            }

            return;
        }

        if (tokens > 1)
        {
            MultiplyDequantized(x, tokens, y);
            return;
        }

        fixed (float* px = x, py = y)
        {
            var job = new DotJob { Q = _q, RowBytes = _rowBytes, Type = _type, Cols = Cols, X = px, Y = py };
            LinearDriver.Run(ref job, &DotSlice, Rows, Cols, 1, grain: 4);
        }
    }

    private protected override void Dequantize(int row, Span<float> destination)
    {
        fixed (float* d = destination)
        {
            LatticeKernels.Dequantize(_type, _q + ((long)row * _rowBytes), d, Cols);
        }
    }

    private struct DotJob
    {
        public byte* Q;
        public long RowBytes;
        public GgmlType Type;
        public int Cols;
        public float* X;
        public float* Y;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotSlice(ref DotJob job, int start, int end)
    {
        for (int r = start; r < end; r++)
        {
            job.Y[r] = LatticeKernels.Dot(job.Type, job.Q + (r * job.RowBytes), job.X, job.Cols);
        }
    }
}
