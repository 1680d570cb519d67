using System.Numerics.Tensors;
using QuantSharp.Kernels;

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

    /// <summary>The architecture's norm (RMSNorm, or LayerNorm with <paramref name="bias"/>) over <paramref name="rows"/>
    /// rows; <paramref name="destination"/> may be <paramref name="x"/>.</summary>
    public static void Normalize(ArchitectureSpec spec, ReadOnlySpan<float> x, float[] weight, float[]? bias, float eps, Span<float> destination, int rows)
    {
        if (spec.Norm == NormKind.Layer)
        {
            LayerNorm.ApplyRows(x, weight, bias ?? throw new InvalidOperationException("LayerNorm without a bias"), eps, destination, rows);
        }
        else
        {
            RmsNorm.ApplyRows(x, weight, eps, destination, rows);
        }
    }

    /// <summary>What a sublayer reads: the normed residual stream (pre-norm, written to <paramref name="xn"/>) or the
    /// stream itself (post-norm).</summary>
    public static ReadOnlySpan<float> SublayerInput(ArchitectureSpec spec, ReadOnlySpan<float> x, float[] norm, float[]? normBias, float eps, Span<float> xn, int n)
    {
        if (spec.PostNorm)
        {
            return x;
        }

        Normalize(spec, x, norm, normBias, eps, xn, n);
        return xn;
    }

    /// <summary>Adds a sublayer's output (plus its bias) to the residual stream, then norms the stream in place when the
    /// architecture is post-norm.</summary>
    public static void Residual(ArchitectureSpec spec, Span<float> x, Span<float> delta, float[]? bias, float[] norm, float[]? normBias, float eps, int n)
    {
        AddRowBias(delta, bias, n);
        TensorPrimitives.Add(x, delta, x);
        if (spec.PostNorm)
        {
            Normalize(spec, x, norm, normBias, eps, x, n);
        }
    }

    /// <summary>Adds <paramref name="bias"/> to each of <paramref name="n"/> rows (nothing when null).</summary>
    public static void AddRowBias(Span<float> rows, float[]? bias, int n)
    {
        if (bias is null)
        {
            return;
        }

        for (int t = 0; t < n; t++)
        {
            Span<float> row = rows.Slice(t * bias.Length, bias.Length);
            TensorPrimitives.Add(row, bias, row);
        }
    }

    /// <summary>The input of the MLP's down projection, written to <paramref name="gate"/> (tokens × f): gated
    /// <c>silu(gate) · up</c> (fused [gate | up], gate first, or separate) or <c>gelu(up)</c>, biases added.</summary>
    public static void MlpActivation(ArchitectureSpec spec, BlockWeights b, ReadOnlySpan<float> xn, int n, int f, Span<float> fusedScratch, Span<float> gate, Span<float> up)
    {
        if (spec.Mlp == MlpKind.Gelu)
        {
            b.Up!.MatMul(xn, n, gate);
            AddRowBias(gate, b.UpBias, n);
            Gelu.Apply(gate[..(n * f)]);
            return;
        }

        if (b.GateUp is not null)
        {
            Span<float> fused = fusedScratch[..(n * 2 * f)];
            b.GateUp.MatMul(xn, n, fused);
            AddRowBias(fused, b.UpBias, n);
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
            AddRowBias(gate, b.GateBias, n);
            AddRowBias(up, b.UpBias, n);
        }

        gate = gate[..(n * f)];
        up = up[..(n * f)];
        // SwiGLU: silu(g) · u = g · sigmoid(g) · u
        TensorPrimitives.Multiply(gate, up, up);
        TensorPrimitives.Sigmoid(gate, gate);
        TensorPrimitives.Multiply(gate, up, gate);
    }
}
