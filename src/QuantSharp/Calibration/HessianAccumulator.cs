using System.Numerics.Tensors;

using QuantSharp.Quantization;

namespace QuantSharp.Calibration;

/// <summary>
/// Accumulates <c>Σ_t x_t·x_tᵀ</c> over calibration tokens (double precision, upper triangle mirrored on read) and the
/// per-channel mean |x| that AWQ scales from. GPTQ's Hessian is <c>H = 2/N · Σ x·xᵀ</c>.
/// </summary>
public sealed class HessianAccumulator
{
    private readonly double[] _sum;
    private readonly double[] _absSum;
    private float[] _transposed = [];
    private float[] _gram = [];

    /// <summary>Creates an accumulator for inputs of <paramref name="cols"/> features.</summary>
    public HessianAccumulator(int cols)
    {
        Cols = cols;
        _sum = new double[(long)cols * cols];
        _absSum = new double[cols];
    }

    /// <summary>Input features.</summary>
    public int Cols { get; }

    /// <summary>Tokens added so far.</summary>
    public long Tokens { get; private set; }

    /// <summary>Adds <paramref name="tokens"/> rows of <see cref="Cols"/> features.</summary>
    public void Add(ReadOnlySpan<float> x, int tokens)
    {
        int n = Cols;
        if (x.Length < (long)tokens * n)
        {
            throw new ArgumentException($"x holds {x.Length} floats, fewer than {tokens}×{n}");
        }

        if (_transposed.Length < tokens * n)
        {
            _transposed = new float[tokens * n];
        }

        float[] xt = _transposed;
        for (int t = 0; t < tokens; t++)
        {
            for (int c = 0; c < n; c++)
            {
                float v = x[(t * n) + c];
                xt[(c * tokens) + t] = v;
                _absSum[c] += Math.Abs(v);
            }
        }

        // Dots of one batch in float (≤ a few hundred terms) through the f32 GEMM (the channels × tokens matrix times its
        // transpose), accumulated across batches in double.
        var channels = new Kernels.DenseLinear(Tensors.TensorView.FromFloats("calibration inputs", [n, tokens], xt.AsSpan(0, tokens * n)));
        if (_gram.Length < (long)n * n)
        {
            _gram = new float[(long)n * n];
        }

        channels.MatMul(xt.AsSpan(0, tokens * n), n, _gram);
        GC.KeepAlive(channels);
        for (int i = 0; i < n; i++)
        {
            for (int j = i; j < n; j++)
            {
                _sum[((long)i * n) + j] += _gram[((long)i * n) + j];
            }
        }

        Tokens += tokens;
    }

    /// <summary><c>Σ x·xᵀ / N</c> as a full symmetric matrix (N = tokens).</summary>
    public double[] Covariance()
    {
        int n = Cols;
        double[] h = new double[(long)n * n];
        double inv = Tokens > 0 ? 1.0 / Tokens : 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = i; j < n; j++)
            {
                double v = _sum[((long)i * n) + j] * inv;
                h[((long)i * n) + j] = v;
                h[((long)j * n) + i] = v;
            }
        }

        return h;
    }

    /// <summary>Mean |x| per input channel.</summary>
    public float[] MeanAbs()
    {
        float[] m = new float[Cols];
        for (int c = 0; c < Cols; c++)
        {
            m[c] = Tokens > 0 ? (float)(_absSum[c] / Tokens) : 0;
        }

        return m;
    }
}
