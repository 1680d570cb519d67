using System.Runtime.InteropServices;
using QuantSharp.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// NF4 and FP4 with the bitsandbytes code books: each block of 64 inputs of a row is scaled by its absmax and every
/// weight replaced by the index of the nearest code-book entry; optional double quantization of the absmax values.
/// </summary>
/// <remarks>
/// Dequantization: <c>W'[r, c] = absmax[r, b] · code[q[r, c]]</c>, <c>b = c / 64</c>. The code books are bitsandbytes'
/// (<c>functional.get_4bit_type</c>, identical to the CUDA <c>dDequantizeNF4</c>/<c>dDequantizeFP4Tree</c> trees):
/// NF4 = the 16 normal-quantile values in <see cref="Nf4Code"/>; FP4 = e2m1 with bias 3,
/// <c>[0, 0.0625, 8, 12, 4, 6, 2, 3, −0, −0.0625, −8, −12, −4, −6, −2, −3] / 12</c> (bit 3 is the sign).
/// Differences from bitsandbytes (which blocks the flattened tensor): blocks never cross a row, so a row of
/// <c>cols</c> inputs has <c>ceil(cols / 64)</c> blocks and the last one may be short (its absmax covers its real
/// inputs; padding codes are the index of +0 and read against zero activations); nibbles use the
/// <see cref="PackLayout"/> 4-bit order, not bitsandbytes' high-nibble-first pairs.
/// <para>Double quantization (bitsandbytes' nested statistics, with a simpler grid): over all <c>rows · blocks</c>
/// absmax values in row-major order, <c>offset = mean(absmax)</c>; each run of 256 values gets
/// <c>absmax_scale = max |absmax − offset| / 127</c> and <c>absmax_q = round_half_even((absmax − offset) / absmax_scale)</c>
/// as a signed byte (a linear 8-bit grid, not bitsandbytes' dynamic tree map). The weights are then coded against
/// the reconstructed <c>absmax' = offset + absmax_scale · absmax_q</c>, so what is stored is self-consistent; a block
/// whose absmax' ≤ 0 stores all codes as +0.</para>
/// Parts: <c>qweight</c> U8 <c>[rows, ceil(cols / 32) · 16]</c>; without double quantization <c>absmax</c> F32
/// <c>[rows, ceil(cols / 64)]</c>; with it <c>absmax</c> I8 <c>[rows, ceil(cols / 64)]</c>, <c>absmax_scale</c> F32
/// <c>[ceil(rows · ceil(cols / 64) / 256)]</c> and <c>absmax_offset</c> F32 <c>[1]</c>.
/// </remarks>
public sealed class FourBitFloatScheme : IQuantScheme
{
    /// <summary>Inputs per absmax block.</summary>
    public const int Block = QuantSpec.FourBitFloatBlock;

    /// <summary>bitsandbytes NF4 code book, index = stored code.</summary>
    public static ReadOnlySpan<float> Nf4Code =>
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    /// <summary>bitsandbytes FP4 code book (normalised by 12), index = stored code.</summary>
    public static ReadOnlySpan<float> Fp4Code =>
    [
        0f, 0.0625f / 12f, 8f / 12f, 1f, 4f / 12f, 6f / 12f, 2f / 12f, 3f / 12f,
        -0f, -0.0625f / 12f, -8f / 12f, -1f, -4f / 12f, -6f / 12f, -2f / 12f, -3f / 12f,
    ];

    private readonly float[] _code;
    private readonly float[] _sorted;
    private readonly byte[] _sortedIndex;
    private readonly float[] _midpoints;

    /// <summary>Creates the scheme for an NF4 or FP4 <paramref name="spec"/>.</summary>
    public FourBitFloatScheme(QuantSpec spec)
    {
        if (spec.Kind is not (QuantSchemeKind.Nf4 or QuantSchemeKind.Fp4))
        {
            throw new ArgumentException($"{spec} is not an nf4/fp4 spec", nameof(spec));
        }

        Spec = spec;
        _code = CodeBook(spec.Kind).ToArray();
        _sortedIndex = Enumerable.Range(0, 16).Select(i => (byte)i).OrderBy(i => _code[i]).ThenBy(i => i).ToArray();
        _sorted = _sortedIndex.Select(i => _code[i]).ToArray();
        _midpoints = Enumerable.Range(0, 15).Select(i => (_sorted[i] + _sorted[i + 1]) / 2).ToArray();
        ZeroCode = (byte)Array.IndexOf(_code, 0f);
    }

    /// <inheritdoc />
    public QuantSpec Spec { get; }

    /// <summary>The code of +0 (padding and all-zero blocks): 7 for NF4, 0 for FP4.</summary>
    public byte ZeroCode { get; }

    /// <summary>The code book of <paramref name="kind"/>.</summary>
    public static ReadOnlySpan<float> CodeBook(QuantSchemeKind kind) => kind == QuantSchemeKind.Fp4 ? Fp4Code : Nf4Code;

    /// <summary>Largest distance from a value in [−1, 1] to its nearest code (half the widest gap): the round-trip bound per unit absmax.</summary>
    public float MaxHalfGap
    {
        get
        {
            float m = 0;
            for (int i = 0; i < 15; i++)
            {
                m = Math.Max(m, (_sorted[i + 1] - _sorted[i]) / 2);
            }

            return m;
        }
    }

    /// <summary>Blocks per row.</summary>
    public static int Blocks(int cols) => (cols + Block - 1) / Block;

    /// <summary>Index of the code nearest to <paramref name="normalized"/> (a value in [−1, 1]).</summary>
    public byte Nearest(float normalized)
    {
        int k = 0;
        while (k < 15 && normalized > _midpoints[k])
        {
            k++;
        }

        return _sortedIndex[k];
    }

    /// <summary>The absmax a double-quantized block decodes to: <c>offset + scale · q</c>.</summary>
    public static float DoubleQuantAbsmax(sbyte q, float scale, float offset) => offset + (scale * q);

    /// <summary>Effectively computes <c>destination[c] = absmax[c / 64] · code[q(c)]</c>.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> packedRow, ReadOnlySpan<float> absmax, ReadOnlySpan<float> code, Span<float> destination)
    {
        for (int c = 0; c < destination.Length; c++)
        {
            destination[c] = absmax[c / Block] * code[PackLayout.Code4(packedRow, c)];
        }
    }

    /// <inheritdoc />
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols)
    {
        QuantChecks.CheckWeights(name, weights, rows, cols);
        int blocks = Blocks(cols);
        int total = rows * blocks;
        float[] absmax = new float[total];
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                float m = 0;
                foreach (float v in weights.Slice((r * cols) + (b * Block), Math.Min(Block, cols - (b * Block))))
                {
                    m = Math.Max(m, Math.Abs(v));
                }

                absmax[(r * blocks) + b] = m;
            }
        }

        var parts = new List<QuantizedPart>();
        int rowBytes = PackLayout.RowBytes4(cols);
        byte[] q = QuantizedTensor.AllocatePinned((long)rows * rowBytes);
        parts.Add(new("qweight", DType.U8, [rows, rowBytes], q));
        if (Spec.DoubleQuant)
        {
            int groups = (total + QuantSpec.DoubleQuantBlock - 1) / QuantSpec.DoubleQuantBlock;
            byte[] qa = QuantizedTensor.AllocatePinned(total);
            byte[] sa = QuantizedTensor.AllocatePinned(groups * 4L);
            byte[] oa = QuantizedTensor.AllocatePinned(4);
            Span<sbyte> qas = MemoryMarshal.Cast<byte, sbyte>(qa.AsSpan());
            Span<float> sas = MemoryMarshal.Cast<byte, float>(sa.AsSpan());
            double sum = 0;
            foreach (float a in absmax)
            {
                sum += a;
            }

            float offset = (float)(sum / total);
            MemoryMarshal.Cast<byte, float>(oa.AsSpan())[0] = offset;
            for (int g = 0; g < groups; g++)
            {
                int start = g * QuantSpec.DoubleQuantBlock, end = Math.Min(total, start + QuantSpec.DoubleQuantBlock);
                float m = 0;
                for (int i = start; i < end; i++)
                {
                    m = Math.Max(m, Math.Abs(absmax[i] - offset));
                }

                float s = m / 127f;
                sas[g] = s;
                for (int i = start; i < end; i++)
                {
                    qas[i] = s == 0 ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round((absmax[i] - offset) / s), -127f, 127f);
                    absmax[i] = DoubleQuantAbsmax(qas[i], s, offset);
                }
            }

            parts.Add(new("absmax", DType.I8, [rows, blocks], qa));
            parts.Add(new("absmax_scale", DType.F32, [groups], sa));
            parts.Add(new("absmax_offset", DType.F32, [1], oa));
        }
        else
        {
            byte[] a = QuantizedTensor.AllocatePinned(total * 4L);
            absmax.AsSpan().CopyTo(MemoryMarshal.Cast<byte, float>(a.AsSpan()));
            parts.Add(new("absmax", DType.F32, [rows, blocks], a));
        }

        byte[] codes = new byte[cols];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> w = weights.Slice(r * cols, cols);
            for (int c = 0; c < cols; c++)
            {
                float a = absmax[(r * blocks) + (c / Block)];
                codes[c] = a > 0 ? Nearest(w[c] / a) : ZeroCode;
            }

            PackLayout.Pack4(codes, q.AsSpan(r * rowBytes, rowBytes), ZeroCode);
        }

        return new QuantizedTensor(name, Spec, rows, cols, [.. parts]);
    }

    /// <summary>The absmax values of row <paramref name="row"/> (decoding double quantization when present).</summary>
    public void RowAbsmax(QuantizedTensor packed, int row, Span<float> destination)
    {
        int blocks = Blocks(packed.Cols);
        if (!Spec.DoubleQuant)
        {
            MemoryMarshal.Cast<byte, float>(packed["absmax"].Data.AsSpan()).Slice(row * blocks, blocks).CopyTo(destination);
            return;
        }

        ReadOnlySpan<sbyte> q = MemoryMarshal.Cast<byte, sbyte>(packed["absmax"].Data.AsSpan());
        ReadOnlySpan<float> s = MemoryMarshal.Cast<byte, float>(packed["absmax_scale"].Data.AsSpan());
        float offset = MemoryMarshal.Cast<byte, float>(packed["absmax_offset"].Data.AsSpan())[0];
        for (int b = 0; b < blocks; b++)
        {
            int i = (row * blocks) + b;
            destination[b] = DoubleQuantAbsmax(q[i], s[i / QuantSpec.DoubleQuantBlock], offset);
        }
    }

    /// <inheritdoc />
    public void DequantizeRow(QuantizedTensor packed, int row, Span<float> destination)
    {
        int cols = packed.Cols;
        int rowBytes = PackLayout.RowBytes4(cols);
        float[] absmax = new float[Blocks(cols)];
        RowAbsmax(packed, row, absmax);
        DequantizeRow(packed["qweight"].Data.AsSpan(row * rowBytes, rowBytes), absmax, _code, destination[..cols]);
    }
}
