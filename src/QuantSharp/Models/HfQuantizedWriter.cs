using System.Runtime.InteropServices;
using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Models;

/// <summary>Which Hugging Face quantized layout to write.</summary>
public enum HfQuantLayout
{
    /// <summary>AutoGPTQ / transformers <c>quant_method: gptq</c> (checkpoint format v1, zeros stored minus 1).</summary>
    Gptq,

    /// <summary>AutoAWQ GEMM (<c>quant_method: awq</c>, <c>version: gemm</c>).</summary>
    AwqGemm,
}

/// <summary>
/// Repacks our grouped integer weights (<see cref="IntGroupScheme"/> / int4 layouts) into the Hugging Face GPTQ and
/// AutoAWQ GEMM tensors (bit layouts in <see cref="HfGptqLinear"/> and <see cref="HfAwqLinear"/>, and docs/formats.md).
/// Codes, scales and zero points are copied exactly, so the written weight decodes to the same values.
/// </summary>
public static unsafe class HfQuantizedWriter
{
    /// <summary>Codes (rows × cols), scales and zeros (rows × groups) and g_idx (cols) of a grouped integer weight.</summary>
    internal static (byte[] Codes, Half[] Scales, int[] Zeros, int[] GIdx) Unpack(PackedLinear w)
    {
        QuantSpec spec = w.Spec;
        if (!spec.IsIntGroup)
        {
            throw new QuantSharpException($"'{w.Packed.Prefix}' is {spec.Name}; the GPTQ/AWQ layouts hold int4/int3/int2 group weights only");
        }

        int rows = w.Rows, cols = w.Cols, bits = spec.Bits, groups = Int4Scheme.Groups(cols, spec.GroupSize);
        int rowBytes = IntGroupScheme.RowBytes(bits, cols);
        var parts = w.Packed.Parts;
        var q = new ReadOnlySpan<byte>(parts["qweight"].Pointer, checked((int)parts["qweight"].ByteLength));
        var s = new ReadOnlySpan<Half>(parts["scales"].Pointer, rows * groups);
        byte[] codes = new byte[(long)rows * cols];
        int[] zeros = new int[rows * groups];
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<byte> row = q.Slice(r * rowBytes, rowBytes);
            for (int c = 0; c < cols; c++)
            {
                codes[((long)r * cols) + c] = (byte)IntGroupScheme.Code(bits, row, c);
            }
        }

        if (spec.Symmetric)
        {
            zeros.AsSpan().Fill(IntGroupScheme.SymmetricZero(bits));
        }
        else
        {
            var z = new ReadOnlySpan<byte>(parts["zeros"].Pointer, rows * groups);
            for (int i = 0; i < zeros.Length; i++)
            {
                zeros[i] = z[i];
            }
        }

        int[] gIdx = new int[cols];
        if (parts.TryGetValue(IntGroupLinear.GIdxSuffix, out TensorView? gi))
        {
            new ReadOnlySpan<int>(gi.Pointer, cols).CopyTo(gIdx);
        }
        else
        {
            for (int c = 0; c < cols; c++)
            {
                gIdx[c] = c / spec.GroupSize;
            }
        }

        return (codes, s.ToArray(), zeros, gIdx);
    }

    /// <summary>Writes <c>prefix.qweight/.qzeros/.scales/.g_idx</c> in the GPTQ v1 layout.</summary>
    /// <exception cref="QuantSharpException">Not a 2/4-bit group weight, dimensions not multiples of 32 / bits, or an asymmetric zero point of 0 (v1 stores zero − 1).</exception>
    public static void WriteGptq(SafetensorsWriter writer, string weightName, ILinearWeight weight)
    {
        PackedLinear w = weight as PackedLinear ?? throw new QuantSharpException($"'{weightName}' is a {weight.Scheme} weight, not a quantized one");
        string prefix = QuantizedLinear.Prefix(weightName);
        int bits = w.Spec.Bits;
        if (bits is not (2 or 4))
        {
            throw new QuantSharpException($"'{weightName}': the GPTQ layout is written for 2- and 4-bit weights here, not {w.Spec.Name}");
        }

        int p = 32 / bits, rows = w.Rows, cols = w.Cols, groups = Int4Scheme.Groups(cols, w.Spec.GroupSize), mask = (1 << bits) - 1;
        if (cols % p != 0 || rows % p != 0)
        {
            throw new QuantSharpException($"'{weightName}' is {rows}×{cols}; the GPTQ layout needs both dimensions divisible by {p}");
        }

        (byte[] codes, Half[] scales, int[] zeros, int[] gIdx) = Unpack(w);
        int[] qweight = new int[cols / p * rows];
        for (int k = 0; k < cols; k++)
        {
            for (int j = 0; j < rows; j++)
            {
                qweight[((k / p) * rows) + j] |= codes[((long)j * cols) + k] << (bits * (k % p));
            }
        }

        int[] qzeros = new int[groups * (rows / p)];
        var scalesT = new Half[groups * rows];
        for (int g = 0; g < groups; g++)
        {
            for (int j = 0; j < rows; j++)
            {
                int zero = zeros[(j * groups) + g];
                if (zero == 0)
                {
                    throw new QuantSharpException($"'{weightName}': output {j}, group {g} has zero point 0, which the GPTQ v1 layout (zeros stored minus 1) cannot hold; quantize with --sym");
                }

                qzeros[(g * (rows / p)) + (j / p)] |= ((zero - 1) & mask) << (bits * (j % p));
                scalesT[(g * rows) + j] = scales[(j * groups) + g];
            }
        }

        writer.Add(prefix + ".qweight", DType.I32, [cols / p, rows], MemoryMarshal.AsBytes(qweight.AsSpan()));
        writer.Add(prefix + ".qzeros", DType.I32, [groups, rows / p], MemoryMarshal.AsBytes(qzeros.AsSpan()));
        writer.Add(prefix + ".scales", DType.F16, [groups, rows], MemoryMarshal.AsBytes(scalesT.AsSpan()));
        writer.Add(prefix + ".g_idx", DType.I32, [cols], MemoryMarshal.AsBytes(gIdx.AsSpan()));
    }

    /// <summary>Writes <c>prefix.qweight/.qzeros/.scales</c> in the AutoAWQ GEMM layout.</summary>
    /// <exception cref="QuantSharpException">Not a 4-bit group weight without g_idx, or dimensions that do not fit the layout.</exception>
    public static void WriteAwq(SafetensorsWriter writer, string weightName, ILinearWeight weight)
    {
        PackedLinear w = weight as PackedLinear ?? throw new QuantSharpException($"'{weightName}' is a {weight.Scheme} weight, not a quantized one");
        string prefix = QuantizedLinear.Prefix(weightName);
        int rows = w.Rows, cols = w.Cols, gs = w.Spec.GroupSize;
        if (w.Spec.Bits != 4 || !w.Spec.IsIntGroup || w.Packed.Parts.ContainsKey(IntGroupLinear.GIdxSuffix))
        {
            throw new QuantSharpException($"'{weightName}': the AWQ GEMM layout holds 4-bit group weights without act-order, not {w.Spec.Name}");
        }

        if (rows % 8 != 0 || cols % gs != 0)
        {
            throw new QuantSharpException($"'{weightName}' is {rows}×{cols}; the AWQ GEMM layout needs outputs divisible by 8 and inputs by the group size {gs}");
        }

        (byte[] codes, Half[] scales, int[] zeros, _) = Unpack(w);
        int words = rows / 8, groups = cols / gs;
        ReadOnlySpan<int> order = HfAwqLinear.Order;
        int[] qweight = new int[cols * words];
        for (int k = 0; k < cols; k++)
        {
            for (int wd = 0; wd < words; wd++)
            {
                int v = 0;
                for (int i = 0; i < 8; i++)
                {
                    v |= codes[((long)((wd * 8) + order[i]) * cols) + k] << (4 * i);
                }

                qweight[(k * words) + wd] = v;
            }
        }

        int[] qzeros = new int[groups * words];
        var scalesT = new Half[groups * rows];
        for (int g = 0; g < groups; g++)
        {
            for (int wd = 0; wd < words; wd++)
            {
                int v = 0;
                for (int i = 0; i < 8; i++)
                {
                    v |= zeros[(((wd * 8) + order[i]) * groups) + g] << (4 * i);
                }

                qzeros[(g * words) + wd] = v;
            }

            for (int j = 0; j < rows; j++)
            {
                scalesT[(g * rows) + j] = scales[(j * groups) + g];
            }
        }

        writer.Add(prefix + ".qweight", DType.I32, [cols, words], MemoryMarshal.AsBytes(qweight.AsSpan()));
        writer.Add(prefix + ".qzeros", DType.I32, [groups, words], MemoryMarshal.AsBytes(qzeros.AsSpan()));
        writer.Add(prefix + ".scales", DType.F16, [groups, rows], MemoryMarshal.AsBytes(scalesT.AsSpan()));
    }
}
