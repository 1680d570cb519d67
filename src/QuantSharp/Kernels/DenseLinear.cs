using QuantSharp.Tensors;

namespace QuantSharp.Kernels;

/// <summary>
/// An unquantized weight kept in its stored dtype (F32, F16 or BF16), read in place from the memory map and
/// converted to F32 inside the kernels.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class DenseLinear : ILinearWeight
{
    private const int RowTile = 4;
    private readonly TensorView _view;
    private readonly byte* _data;
    private readonly DType _dtype;
    private readonly int _elementSize;

    // F16 only: 0 until the first MatVec scans the tensor, then 1 when it holds no inf/NaN (the fast kernels apply),
    // 2 when it does (the exact-conversion kernels run instead).
    private int _f16State;

    /// <summary>Wraps a 2-D float tensor <c>[rows, cols]</c>.</summary>
    public DenseLinear(TensorView view)
    {
        if (view.Shape.Length != 2)
        {
            throw new ArgumentException($"tensor '{view.Name}' has shape {view.ShapeText}; a linear weight must be 2-D");
        }

        if (!DTypeInfo.IsFloat(view.DType))
        {
            throw new ArgumentException($"tensor '{view.Name}' has dtype {view.DType}; a dense weight must be F32, F16 or BF16");
        }

        _view = view;
        _data = view.Pointer;
        _dtype = view.DType;
        _elementSize = DTypeInfo.SizeOf(view.DType);
        Rows = checked((int)view.Shape[0]);
        Cols = checked((int)view.Shape[1]);
    }

    /// <summary>The tensor this weight reads.</summary>
    public TensorView View => _view;

    /// <inheritdoc />
    public int Rows { get; }

    /// <inheritdoc />
    public int Cols { get; }

    /// <inheritdoc />
    public string Scheme => _dtype.ToString().ToLowerInvariant();

    /// <inheritdoc />
    public long BytesInMemory => _view.ByteLength;

    /// <inheritdoc />
    public void DequantizeRow(int row, Span<float> destination)
    {
        LinearDriver.CheckRow(_view.Name, Rows, Cols, row, destination.Length);
        _view.ReadFloats((long)row * Cols, destination[..Cols]);
    }

    private struct Job
    {
        public byte* W;
        public DType DType;
        public int ElementSize;
        public int Rows;
        public int Cols;
        public float* X;
        public float* Y;
        public int Tokens;
        public int Shift;
        public int* Shifts;
        public float* XT;
        public int FoundInfOrNaN;
        public bool FiniteHalves;
    }

    /// <inheritdoc />
    public void MatVec(ReadOnlySpan<float> x, Span<float> y)
    {
        LinearDriver.CheckSizes(_view.Name, Rows, Cols, x.Length, 1, y.Length);
        fixed (float* px = x, py = y)
        {
            var job = new Job { W = _data, DType = _dtype, ElementSize = _elementSize, Rows = Rows, Cols = Cols, X = px, Y = py, Tokens = 1 };
            if (_dtype == DType.F16 && HalvesAreFinite())
            {
                // The caller's scratch: the F16 slices use none, so workers running on this thread cannot overwrite it.
                job.X = ThreadScratch.Floats(Cols);
                job.Shift = F16RowKernels.ScaleActivations(x[..Cols], new Span<float>(job.X, Cols));
                LinearDriver.Run(ref job, &MatVecF16Slice, Rows, Cols, 1, grain: 16);
            }
            else
            {
                LinearDriver.Run(ref job, &MatVecSlice, Rows, Cols, 1, grain: 16);
            }
        }

        GC.KeepAlive(_view); // the workers read its memory through a raw pointer
    }

    /// <summary>Whether this F16 tensor holds no infinity or NaN; scanned once (one pass over the weight) on first use.</summary>
    private bool HalvesAreFinite()
    {
        int state = Volatile.Read(ref _f16State);
        if (state == 0)
        {
            var scan = new Job { W = _data, Cols = Cols };
            LinearDriver.Run(ref scan, &ScanSlice, Rows, Cols, 1, grain: 16);
            state = scan.FoundInfOrNaN != 0 ? 2 : 1;
            Volatile.Write(ref _f16State, state);
        }

        return state == 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScanSlice(ref Job job, int start, int end)
    {
        if (F16RowKernels.HasInfOrNaN((ushort*)job.W + ((long)start * job.Cols), (long)(end - start) * job.Cols))
        {
            Volatile.Write(ref job.FoundInfOrNaN, 1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatVecF16Slice(ref Job job, int start, int end)
    {
        F16RowKernels.MatVecRows(job.W, job.Cols, job.X, job.Shift, job.Y, start, end);
    }

    /// <summary>Up to this many tokens (batched decode of several sequences), each block of
    /// <see cref="SmallBatchRows"/> rows is multiplied by every token with the decode kernel while it sits in L2: the
    /// weight streams from memory once per step, and each token's outputs equal its <see cref="MatVec"/> bit for bit.
    /// More tokens go through <see cref="DenseGemm"/> (5632 × 2048 F16, 2 threads: 8 tokens 1.60–1.84 ms here, 9 tokens
    /// through the GEMM 2.79–3.42 ms).</summary>
    internal const int SmallBatchTokens = 8;

    /// <summary>Rows per block of the small-batch path (16 rows × 2048 F16 columns = 64 KiB).</summary>
    private const int SmallBatchRows = 16;

    /// <inheritdoc />
    public void MatMul(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        LinearDriver.CheckSizes(_view.Name, Rows, Cols, x.Length, tokens, y.Length);
        if (tokens == 0)
        {
            return;
        }

        if (tokens == 1)
        {
            MatVec(x, y);
            return;
        }

        if (tokens <= SmallBatchTokens)
        {
            MatMulSmallBatch(x, tokens, y);
            return;
        }

        fixed (float* px = x, py = y)
        {
            float[]? transposed = DenseGemm.RentTransposed(px, tokens, Cols);
            try
            {
                fixed (float* pxt = transposed)
                {
                    var job = new Job
                    {
                        W = _data, DType = _dtype, ElementSize = _elementSize, Rows = Rows, Cols = Cols, X = px, XT = pxt, Y = py, Tokens = tokens,
                        FiniteHalves = _dtype == DType.F16 && HalvesAreFinite(),
                    };
                    LinearDriver.Run(ref job, &MatMulSlice, Rows, Cols, tokens, grain: RowTile);
                }
            }
            finally
            {
                DenseGemm.Return(transposed);
            }
        }

        GC.KeepAlive(_view); // the workers read its memory through a raw pointer
    }

    private void MatMulSmallBatch(ReadOnlySpan<float> x, int tokens, Span<float> y)
    {
        int* shifts = stackalloc int[tokens];
        fixed (float* px = x, py = y)
        {
            var job = new Job { W = _data, DType = _dtype, ElementSize = _elementSize, Rows = Rows, Cols = Cols, X = px, Y = py, Tokens = tokens, Shifts = shifts };
            if (_dtype == DType.F16 && HalvesAreFinite())
            {
                // The caller's scratch (the slices use none), as in MatVec, one scaled copy per token.
                job.X = ThreadScratch.Floats((long)tokens * Cols);
                job.FiniteHalves = true;
                for (int t = 0; t < tokens; t++)
                {
                    shifts[t] = F16RowKernels.ScaleActivations(x.Slice(t * Cols, Cols), new Span<float>(job.X + ((long)t * Cols), Cols));
                }
            }

            LinearDriver.Run(ref job, &SmallBatchSlice, Rows, Cols, tokens, grain: 16);
        }

        GC.KeepAlive(_view); // the workers read its memory through a raw pointer
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallBatchSlice(ref Job job, int start, int end)
    {
        for (int r0 = start; r0 < end; r0 += SmallBatchRows)
        {
            int r1 = Math.Min(end, r0 + SmallBatchRows);
            for (int t = 0; t < job.Tokens; t++)
            {
                float* x = job.X + ((long)t * job.Cols), y = job.Y + ((long)t * job.Rows);
                if (job.FiniteHalves)
                {
                    F16RowKernels.MatVecRows(job.W, job.Cols, x, job.Shifts[t], y, r0, r1);
                }
                else
                {
                    MatVecRows(job.DType, job.W, job.Cols, x, y, r0, r1);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatVecSlice(ref Job job, int start, int end) => MatVecRows(job.DType, job.W, job.Cols, job.X, job.Y, start, end);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MatVecRows(DType dtype, byte* w, int cols, float* x, float* y, int start, int end)
    {
        switch (dtype)
        {
            case DType.F32:
                DenseRowKernels.MatVecRows<F32Loader>(w, cols, x, y, start, end);
                break;
            case DType.F16:
                DenseRowKernels.MatVecRows<F16Loader>(w, cols, x, y, start, end);
                break;
            default:
                DenseRowKernels.MatVecRows<BF16Loader>(w, cols, x, y, start, end);
                break;
        }
    }

    /// <summary>Rows converted to F32 at a time for F16/BF16 weights (48 rows × 2048 floats = 384 KiB, in L2; a
    /// multiple of <see cref="DenseGemm.Rows"/>).</summary>
    private const int ConvertRows = 48;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatMulSlice(ref Job job, int start, int end)
    {
        int cols = job.Cols;
        if (job.DType == DType.F32)
        {
            DenseGemm.Gemm((float*)job.W + ((long)start * cols), end - start, cols, job.X, job.XT, job.Tokens, job.Y + start, job.Rows);
            return;
        }

        float* tile = ThreadScratch.Floats((long)ConvertRows * cols);
        for (int r0 = start; r0 < end; r0 += ConvertRows)
        {
            int count = Math.Min(ConvertRows, end - r0);
            byte* rows = job.W + ((long)r0 * cols * job.ElementSize);
            if (job.FiniteHalves)
            {
                F16RowKernels.ConvertFinite((ushort*)rows, tile, (long)count * cols);
            }
            else
            {
                DenseKernels.ToFloat(job.DType, rows, tile, count * cols);
            }

            DenseGemm.Gemm(tile, count, cols, job.X, job.XT, job.Tokens, job.Y + r0, job.Rows);
        }
    }
}
