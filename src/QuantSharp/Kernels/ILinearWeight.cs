namespace QuantSharp.Kernels;

/// <summary>
/// The one thing a model multiplies by: a weight matrix of <see cref="Rows"/> output features by <see cref="Cols"/>
/// input features (PyTorch <c>[out, in]</c> layout), stored in some scheme. Models never know which.
/// </summary>
public interface ILinearWeight
{
    /// <summary>Output features.</summary>
    int Rows { get; }

    /// <summary>Input features.</summary>
    int Cols { get; }

    /// <summary>Storage scheme name ("f32", "bf16", "int8", "int4-g128-sym", …).</summary>
    string Scheme { get; }

    /// <summary>Bytes the weight occupies (packed data plus scales), which is what decode streams per token.</summary>
    long BytesInMemory { get; }

    /// <summary>Decode: effectively computes <c>y[r] = Σ_c W[r, c] · x[c]</c>.</summary>
    void MatVec(ReadOnlySpan<float> x, Span<float> y);

    /// <summary>Prefill: <paramref name="x"/> is <paramref name="tokens"/> × <see cref="Cols"/> row-major,
    /// <paramref name="y"/> is <paramref name="tokens"/> × <see cref="Rows"/>; effectively <c>Y = X · Wᵀ</c>.</summary>
    void MatMul(ReadOnlySpan<float> x, int tokens, Span<float> y);

    /// <summary>Writes row <paramref name="row"/> of the matrix as floats (embedding lookup, export, tests).</summary>
    void DequantizeRow(int row, Span<float> destination);
}
