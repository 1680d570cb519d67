using System.Numerics.Tensors;

namespace QuantSharp.Models;

/// <summary>The parts of a transformer block's forward pass shared by <see cref="InferenceSession"/> (generation,
/// perplexity) and <see cref="BlockRunner"/> (calibration), so both compute a block the same way.</summary>
internal static class BlockOps
{
    /// <summary>q, k, v (tokens × qDim / kvDim / kvDim) from the normed input, through the fused [Q | K | V] projection
    /// (split per token) or the three separate ones, with the q/k/v bias added when the block has one.</summary>
    public static void ProjectQkv(BlockWeights b, ReadOnlySpan<float> xn, int n, int qDim, int kvDim, Span<float> fusedScratch, Span<float> q, Span<float> k, Span<float> v)
    {
        if (b.Qkv is not null)
        {
            int width = qDim + (2 * kvDim);
            Span<float> fused = fusedScratch[..(n * width)];
            b.Qkv.MatMul(xn, n, fused);
            for (int t = 0; t < n; t++)
            {
                Span<float> row = fused.Slice(t * width, width);
                if (b.QkvBias is not null)
                {
                    TensorPrimitives.Add(row, b.QkvBias, row);
                }

                row[..qDim].CopyTo(q.Slice(t * qDim, qDim));
                row.Slice(qDim, kvDim).CopyTo(k.Slice(t * kvDim, kvDim));
                row.Slice(qDim + kvDim, kvDim).CopyTo(v.Slice(t * kvDim, kvDim));
            }

            return;
        }

        b.Q!.MatMul(xn, n, q);
        b.K!.MatMul(xn, n, k);
        b.V!.MatMul(xn, n, v);
        if (b.QkvBias is not null)
        {
            for (int t = 0; t < n; t++)
            {
                TensorPrimitives.Add(q.Slice(t * qDim, qDim), b.QkvBias.AsSpan(0, qDim), q.Slice(t * qDim, qDim));
                TensorPrimitives.Add(k.Slice(t * kvDim, kvDim), b.QkvBias.AsSpan(qDim, kvDim), k.Slice(t * kvDim, kvDim));
                TensorPrimitives.Add(v.Slice(t * kvDim, kvDim), b.QkvBias.AsSpan(qDim + kvDim, kvDim), v.Slice(t * kvDim, kvDim));
            }
        }
    }

    /// <summary>The MLP's gated product: gate and up (fused [gate | up], gate first, or separate), then
    /// <c>gate ← silu(gate) · up</c>, the input of the down projection.</summary>
    public static void GateUpSwiGlu(BlockWeights b, ReadOnlySpan<float> xn, int n, int f, Span<float> fusedScratch, Span<float> gate, Span<float> up)
    {
        if (b.GateUp is not null)
        {
            Span<float> fused = fusedScratch[..(n * 2 * f)];
            b.GateUp.MatMul(xn, n, fused);
            for (int t = 0; t < n; t++)
            {
                fused.Slice(t * 2 * f, f).CopyTo(gate.Slice(t * f, f));
                fused.Slice((t * 2 * f) + f, f).CopyTo(up.Slice(t * f, f));
            }
        }
        else
        {
            b.Gate!.MatMul(xn, n, gate);
            b.Up!.MatMul(xn, n, up);
        }

        // SwiGLU: silu(g) · u = g · sigmoid(g) · u
        TensorPrimitives.Multiply(gate, up, up);
        TensorPrimitives.Sigmoid(gate, gate);
        TensorPrimitives.Multiply(gate, up, gate);
    }
}
