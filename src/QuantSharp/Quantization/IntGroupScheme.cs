using System.Runtime.InteropServices;
using QuantSharp.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// Integer codes of 2, 3 or 4 bits grouped along the input dimension, symmetric or asymmetric, with an optional
/// <c>g_idx</c> (GPTQ act-order): round-to-nearest for int3/int2, and the packer every calibrated method
/// (GPTQ, AWQ) uses to store its codes for int4/int3/int2.
/// </summary>
/// <remarks>
/// Dequantization: <c>W'[r, c] = scale[r, g] · (q[r, c] − zero[r, g])</c> with <c>g = g_idx[c]</c> when a
/// <c>g_idx</c> part is present, else <c>g = c / GroupSize</c>; symmetric weights have no <c>zeros</c> part and an
/// implicit zero of <c>2^(bits−1)</c>. Round-to-nearest fits each group with <see cref="GroupGrid.Fit"/>.
/// Parts: <c>qweight</c> U8 <c>[rows, RowBytes]</c>; <c>scales</c> F16 <c>[rows, groups]</c>; <c>zeros</c> U8
/// <c>[rows, groups]</c> (asymmetric only); <c>g_idx</c> I32 <c>[cols]</c> (optional, values 0..groups−1).
/// <c>groups = ceil(cols / GroupSize)</c>. Rows are padded to a multiple of 32 codes with the zero code.
/// Packing of a row: 4-bit codes use the int4 layout of <see cref="PackLayout"/> (so int4 without g_idx is
/// exactly <see cref="Int4Scheme"/>'s layout); 3- and 2-bit codes form a little-endian bit stream, code <c>i</c> in
/// bits <c>[b·i, b·i + b)</c> of the row (byte <c>k</c> holds bits <c>8k..8k+7</c>), i.e. 12 (int3) or 8 (int2)
/// bytes per 32 codes.
/// </remarks>
public sealed class IntGroupScheme : IQuantScheme
{
    /// <summary>Creates the scheme for an int4/int3/int2 <paramref name="spec"/>.</summary>
    public IntGroupScheme(QuantSpec spec)
    {
        if (!spec.IsIntGroup)
        {
            throw new ArgumentException($"{spec} is not an int4/int3/int2 spec", nameof(spec));
        }

        Spec = spec;
    }

    /// <inheritdoc />
    public QuantSpec Spec { get; }

    /// <summary>Bytes of one packed row of <paramref name="cols"/> codes of <paramref name="bits"/> bits.</summary>
    public static int RowBytes(int bits, int cols) => PackLayout.Chunks(cols) * 4 * bits;

    /// <summary>The implicit zero code of a symmetric grid.</summary>
    public static int SymmetricZero(int bits) => 1 << (bits - 1);

    /// <summary>Packs one row of codes (positions past <c>codes.Length</c> get <paramref name="pad"/>).</summary>
    public static void PackRow(int bits, ReadOnlySpan<byte> codes, Span<byte> destination, byte pad)
    {
        if (bits == 4)
        {
            PackLayout.Pack4(codes, destination, pad);
            return;
        }

        int total = PackLayout.Chunks(codes.Length) * PackLayout.Chunk;
        destination[..RowBytes(bits, codes.Length)].Clear();
        for (int i = 0; i < total; i++)
        {
            int v = i < codes.Length ? codes[i] : pad;
            int bit = i * bits;
            int word = (v & ((1 << bits) - 1)) << (bit & 7);
            destination[bit >> 3] |= (byte)word;
            if ((bit & 7) + bits > 8)
            {
                destination[(bit >> 3) + 1] |= (byte)(word >> 8);
            }
        }
    }

    /// <summary>Code <paramref name="index"/> of a packed row.</summary>
    public static int Code(int bits, ReadOnlySpan<byte> packedRow, int index)
    {
        if (bits == 4)
        {
            return PackLayout.Code4(packedRow, index);
        }

        int bit = index * bits;
        int b = bit >> 3;
        int word = packedRow[b] | (b + 1 < packedRow.Length ? packedRow[b + 1] << 8 : 0);
        return (word >> (bit & 7)) & ((1 << bits) - 1);
    }

    /// <summary>Effectively computes <c>destination[c] = scales[g] · (code(c) − zero[g])</c>, <c>g = gIdx[c]</c> or
    /// <c>c / groupSize</c> when <paramref name="gIdx"/> is empty; empty <paramref name="zeros"/> means symmetric.</summary>
    public static void DequantizeRow(int bits, ReadOnlySpan<byte> packedRow, ReadOnlySpan<Half> scales, ReadOnlySpan<byte> zeros, ReadOnlySpan<int> gIdx, int groupSize, Span<float> destination)
    {
        int symZero = SymmetricZero(bits);
        if (bits != 4 && gIdx.IsEmpty)
        {
            DequantizeGroups(bits, packedRow, scales, zeros, symZero, groupSize, destination);
            return;
        }

        for (int c = 0; c < destination.Length; c++)
        {
            int g = gIdx.IsEmpty ? c / groupSize : gIdx[c];
            int zero = zeros.IsEmpty ? symZero : zeros[g];
            destination[c] = (float)scales[g] * (Code(bits, packedRow, c) - zero);
        }
    }

    /// <summary>The 2- and 3-bit rows without g_idx, group by group: the group's scale and zero read once, eight codes
    /// taken from each <paramref name="bits"/> bytes (groups are multiples of 32, so each starts on a byte). The same
    /// products as the per-code loop.</summary>
    private static void DequantizeGroups(int bits, ReadOnlySpan<byte> packedRow, ReadOnlySpan<Half> scales, ReadOnlySpan<byte> zeros, int symZero, int groupSize, Span<float> destination)
    {
        ulong mask = (1UL << bits) - 1;
        for (int g0 = 0, g = 0; g0 < destination.Length; g0 += groupSize, g++)
        {
            float scale = (float)scales[g];
            int zero = zeros.IsEmpty ? symZero : zeros[g];
            int end = Math.Min(destination.Length, g0 + groupSize);
            int c = g0;
            for (; c + 8 <= end; c += 8)
            {
                ReadOnlySpan<byte> p = packedRow.Slice(c / 8 * bits, bits);
                ulong v = p[0] | ((ulong)p[1] << 8) | (bits == 3 ? (ulong)p[2] << 16 : 0);
                Span<float> d = destination.Slice(c, 8);
                for (int j = 0; j < 8; j++)
                {
                    d[j] = scale * ((int)((v >> (bits * j)) & mask) - zero);
                }
            }

            for (; c < end; c++)
            {
                destination[c] = scale * (Code(bits, packedRow, c) - zero);
            }
        }
    }

    /// <summary>
    /// Stores codes computed elsewhere (GPTQ, AWQ): <paramref name="codes"/> is rows × cols (one code per byte, in
    /// the original column order), <paramref name="scales"/>/<paramref name="zeros"/> rows × groups (zeros ignored
    /// when symmetric), <paramref name="gIdx"/> empty or one group per column.
    /// </summary>
    /// <exception cref="ArgumentException">Sizes do not match, a code exceeds the bit width, or a g_idx is out of range.</exception>
    public static QuantizedTensor Pack(QuantSpec spec, string name, int rows, int cols, ReadOnlySpan<byte> codes, ReadOnlySpan<Half> scales, ReadOnlySpan<byte> zeros, ReadOnlySpan<int> gIdx)
    {
        if (!spec.IsIntGroup)
        {
            throw new ArgumentException($"{spec} is not an int4/int3/int2 spec", nameof(spec));
        }

        int bits = spec.Bits;
        int groups = Int4Scheme.Groups(cols, spec.GroupSize);
        if (codes.Length != (long)rows * cols || scales.Length != (long)rows * groups || (!spec.Symmetric && zeros.Length != (long)rows * groups) || (!gIdx.IsEmpty && gIdx.Length != cols))
        {
            throw new ArgumentException($"{name}: codes/scales/zeros/g_idx do not match a {rows}×{cols} {spec.Name} weight");
        }

        foreach (int g in gIdx)
        {
            if ((uint)g >= (uint)groups)
            {
                throw new ArgumentException($"{name}: g_idx value {g} is outside 0..{groups - 1}");
            }
        }

        int rowBytes = RowBytes(bits, cols);
        byte[] q = QuantizedTensor.AllocatePinned((long)rows * rowBytes);
        byte[] s = QuantizedTensor.AllocatePinned((long)rows * groups * 2);
        MemoryMarshal.AsBytes(scales).CopyTo(s);
        int maxq = (1 << bits) - 1;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<byte> row = codes.Slice(r * cols, cols);
            foreach (byte c in row)
            {
                if (c > maxq)
                {
                    throw new ArgumentException($"{name}: code {c} does not fit in {bits} bits");
                }
            }

            byte pad = (byte)(spec.Symmetric ? SymmetricZero(bits) : zeros[(r * groups) + groups - 1]);
            PackRow(bits, row, q.AsSpan(r * rowBytes, rowBytes), pad);
        }

        var parts = new List<QuantizedPart>
        {
            new("qweight", DType.U8, [rows, rowBytes], q),
            new("scales", DType.F16, [rows, groups], s),
        };
        if (!spec.Symmetric)
        {
            byte[] z = QuantizedTensor.AllocatePinned((long)rows * groups);
            zeros.CopyTo(z);
            parts.Add(new("zeros", DType.U8, [rows, groups], z));
        }

        if (!gIdx.IsEmpty)
        {
            byte[] gi = QuantizedTensor.AllocatePinned(cols * 4L);
            MemoryMarshal.AsBytes(gIdx).CopyTo(gi);
            parts.Add(new("g_idx", DType.I32, [cols], gi));
        }

        return new QuantizedTensor(name, spec, rows, cols, [.. parts]);
    }

    /// <inheritdoc />
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols) => Quantize(name, weights, rows, cols, []);

    /// <summary>
    /// Round-to-nearest with each group's grid chosen under per-column importances (<see cref="GroupGrid.FitWeighted"/>;
    /// <paramref name="importance"/> has <paramref name="cols"/> values, e.g. an importance matrix entry), or
    /// <see cref="GroupGrid.Fit"/>'s grid when <paramref name="importance"/> is empty. The error of weight w in column c
    /// counts <see cref="GroupGrid.ErrorWeights"/> times.
    /// </summary>
    /// <exception cref="QuantSharpException">NaN/Inf weights, or importances that are not <paramref name="cols"/> finite values ≥ 0.</exception>
    public QuantizedTensor Quantize(string name, ReadOnlySpan<float> weights, int rows, int cols, ReadOnlySpan<float> importance)
    {
        QuantChecks.CheckWeights(name, weights, rows, cols);
        if (!importance.IsEmpty)
        {
            QuantChecks.CheckImportance(name, importance, cols);
        }

        int groups = Int4Scheme.Groups(cols, Spec.GroupSize);
        byte[] codes = new byte[(long)rows * cols];
        var scales = new Half[rows * groups];
        byte[] zeros = new byte[Spec.Symmetric ? 0 : rows * groups];
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < groups; g++)
            {
                int start = g * Spec.GroupSize, n = Math.Min(Spec.GroupSize, cols - start);
                ReadOnlySpan<float> w = weights.Slice((r * cols) + start, n);
                GroupGrid grid = importance.IsEmpty
                    ? GroupGrid.Fit(w, Spec.Bits, Spec.Symmetric, 1f, name)
                    : GroupGrid.FitWeighted(w, GroupGrid.ErrorWeights(w, importance.Slice(start, n)), Spec.Bits, Spec.Symmetric, name);
                scales[(r * groups) + g] = (Half)grid.Scale;
                if (!Spec.Symmetric)
                {
                    zeros[(r * groups) + g] = (byte)grid.Zero;
                }

                for (int i = 0; i < n; i++)
                {
                    codes[((long)r * cols) + start + i] = (byte)grid.Code(w[i]);
                }
            }
        }

        return Pack(Spec, name, rows, cols, codes, scales, zeros, []);
    }

    /// <inheritdoc />
    public void DequantizeRow(QuantizedTensor packed, int row, Span<float> destination)
    {
        int cols = packed.Cols;
        int bits = Spec.Bits;
        int groups = Int4Scheme.Groups(cols, Spec.GroupSize);
        int rowBytes = RowBytes(bits, cols);
        ReadOnlySpan<Half> scales = MemoryMarshal.Cast<byte, Half>(packed["scales"].Data.AsSpan()).Slice(row * groups, groups);
        ReadOnlySpan<byte> zeros = Spec.Symmetric ? ReadOnlySpan<byte>.Empty : packed["zeros"].Data.AsSpan(row * groups, groups);
        QuantizedPart? gIdx = packed.Parts.FirstOrDefault(p => p.Suffix == "g_idx");
        ReadOnlySpan<int> g = gIdx is null ? ReadOnlySpan<int>.Empty : MemoryMarshal.Cast<byte, int>(gIdx.Data.AsSpan());
        DequantizeRow(bits, packed["qweight"].Data.AsSpan(row * rowBytes, rowBytes), scales, zeros, g, Spec.GroupSize, destination[..cols]);
    }
}
