namespace QuantSharp.Kernels;

/// <summary>Dot product of an int8 weight row with int8-quantized activations (<see cref="ActivationQuantizer"/>),
/// with the scalar reference the AVX2 path is tested against.</summary>
[SkipLocalsInit]
internal static unsafe class Int8Kernels
{
    /// <summary>Scalar reference: <c>Σ_b d[b] · Σ_{c∈b} w[c] · q[c]</c> over the <paramref name="cols"/> weights (exact integer block sums).</summary>
    internal static float DotReference(sbyte* w, int cols, sbyte* q, float* d)
    {
        float acc = 0;
        for (int start = 0, b = 0; start < cols; start += 32, b++)
        {
            int end = Math.Min(cols, start + 32);
            int sum = 0;
            for (int c = start; c < end; c++)
            {
                sum += w[c] * q[c];
            }

            acc += d[b] * sum;
        }

        return acc;
    }

    /// <summary>Same as <see cref="DotReference"/>; AVX2 when available (whole 32-blocks), reference for the tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(sbyte* w, int cols, sbyte* q, float* d)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported || cols < 32)
        {
            return DotReference(w, cols, q, d);
        }

        int full = cols / 32;
        Vector256<short> ones = Vector256.Create((short)1);
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        int b = 0;
        for (; b + 2 <= full; b += 2)
        {
            acc0 = Fma.MultiplyAdd(Block(w + (b * 32), q + (b * 32), ones), Vector256.Create(d[b]), acc0);
            acc1 = Fma.MultiplyAdd(Block(w + (b * 32) + 32, q + (b * 32) + 32, ones), Vector256.Create(d[b + 1]), acc1);
        }

        if (b < full)
        {
            acc0 = Fma.MultiplyAdd(Block(w + (b * 32), q + (b * 32), ones), Vector256.Create(d[b]), acc0);
        }

        float result = Vector256.Sum(acc0 + acc1);
        if (full * 32 < cols)
        {
            result += DotReference(w + (full * 32), cols - (full * 32), q + (full * 32), d + full);
        }

        return result;
    }

    /// <summary>
    /// <see cref="Dot"/> of one weight row with four tokens' activations (batched decode): each block of the row is loaded
    /// and made absolute once for all four. Token t's activations start at <c>q + t·chunks·32</c> and its factors at
    /// <c>d + t·chunks</c>. Same operations in the same order per token as <see cref="Dot"/>, so bit-identical to it.
    /// Requires AVX2 and FMA.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4Tokens(sbyte* w, int cols, sbyte* q, float* d, int chunks, float* result)
    {
        int full = cols / 32;
        long qs = (long)chunks * 32;
        sbyte* q0 = q, q1 = q + qs, q2 = q1 + qs, q3 = q2 + qs;
        float* d0 = d, d1 = d + chunks, d2 = d1 + chunks, d3 = d2 + chunks;
        Vector256<short> ones = Vector256.Create((short)1);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        int b = 0;
        for (; b < full; b++)
        {
            int o = b * 32;
            Vector256<sbyte> wv = Avx.LoadVector256(w + o);
            Vector256<byte> aw = Avx2.Abs(wv);
            if ((b & 1) == 0)
            {
                a0 = Fma.MultiplyAdd(SignedBlock(aw, wv, q0 + o, ones), Vector256.Create(d0[b]), a0);
                a1 = Fma.MultiplyAdd(SignedBlock(aw, wv, q1 + o, ones), Vector256.Create(d1[b]), a1);
                a2 = Fma.MultiplyAdd(SignedBlock(aw, wv, q2 + o, ones), Vector256.Create(d2[b]), a2);
                a3 = Fma.MultiplyAdd(SignedBlock(aw, wv, q3 + o, ones), Vector256.Create(d3[b]), a3);
            }
            else
            {
                b0 = Fma.MultiplyAdd(SignedBlock(aw, wv, q0 + o, ones), Vector256.Create(d0[b]), b0);
                b1 = Fma.MultiplyAdd(SignedBlock(aw, wv, q1 + o, ones), Vector256.Create(d1[b]), b1);
                b2 = Fma.MultiplyAdd(SignedBlock(aw, wv, q2 + o, ones), Vector256.Create(d2[b]), b2);
                b3 = Fma.MultiplyAdd(SignedBlock(aw, wv, q3 + o, ones), Vector256.Create(d3[b]), b3);
            }
        }

        result[0] = Vector256.Sum(a0 + b0);
        result[1] = Vector256.Sum(a1 + b1);
        result[2] = Vector256.Sum(a2 + b2);
        result[3] = Vector256.Sum(a3 + b3);
        if (full * 32 < cols)
        {
            int o = full * 32;
            result[0] += DotReference(w + o, cols - o, q0 + o, d0 + full);
            result[1] += DotReference(w + o, cols - o, q1 + o, d1 + full);
            result[2] += DotReference(w + o, cols - o, q2 + o, d2 + full);
            result[3] += DotReference(w + o, cols - o, q3 + o, d3 + full);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SignedBlock(Vector256<byte> absW, Vector256<sbyte> w, sbyte* q, Vector256<short> ones)
        => Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(absW, Avx2.Sign(Avx.LoadVector256(q), w)), ones));

    /// <summary>Copies four rows (<paramref name="cols"/> apart) of int8 weights to <paramref name="codes"/> as unsigned
    /// bytes w + 128 (row i at <c>i · cols</c>), for <see cref="Dot4Codes"/>: one copy per 4-row tile serves every token.</summary>
    internal static void Unpack4(sbyte* w, int cols, byte* codes)
    {
        Vector256<byte> bias = Vector256.Create((byte)0x80);
        for (long i = 0; i < 4L * cols; i += 32)
        {
            Avx.Store(codes + i, Avx.LoadVector256((byte*)w + i) ^ bias);
        }
    }

    /// <summary>
    /// Four rows of <see cref="Dot"/> on codes from <see cref="Unpack4"/> (cols a multiple of 32; needs AVX-VNNI):
    /// <c>vpdpbusd</c> of u = w + 128 with q, started from −128 · (each lane's Σq), gives every int32 lane exactly the
    /// value of <see cref="Dot"/>'s sign-trick lane, and the float operations follow <see cref="Dot"/>'s order, so the
    /// results are bit-identical to it. Three vector operations per row and 32 weights instead of six.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4Codes(byte* codes, int cols, sbyte* q, float* d, float* result)
    {
        int full = cols / 32;
        Vector256<byte> bias = Vector256.Create((byte)0x80);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        byte* p0 = codes, p1 = codes + cols, p2 = p1 + cols, p3 = p2 + cols;
        int b = 0;
        for (; b + 2 <= full; b += 2)
        {
            Codes4Step(p0, p1, p2, p3, b * 32, q, d[b], bias, ref a0, ref a1, ref a2, ref a3);
            Codes4Step(p0, p1, p2, p3, (b + 1) * 32, q, d[b + 1], bias, ref b0, ref b1, ref b2, ref b3);
        }

        if (b < full)
        {
            Codes4Step(p0, p1, p2, p3, b * 32, q, d[b], bias, ref a0, ref a1, ref a2, ref a3);
        }

        result[0] = Vector256.Sum(a0 + b0);
        result[1] = Vector256.Sum(a1 + b1);
        result[2] = Vector256.Sum(a2 + b2);
        result[3] = Vector256.Sum(a3 + b3);
    }

    /// <summary>One 32-weight chunk at byte <paramref name="o"/> of four code rows into their accumulators (<see cref="Dot4Codes"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Codes4Step(byte* p0, byte* p1, byte* p2, byte* p3, int o, sbyte* q, float d, Vector256<byte> bias,
        ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, ref Vector256<float> a3)
    {
        Vector256<sbyte> qv = Avx.LoadVector256(q + o);
        Vector256<int> neg = Avx2.Subtract(Vector256<int>.Zero, AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, bias, qv));
        Vector256<float> dv = Vector256.Create(d);
        a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(neg, Avx.LoadVector256(p0 + o), qv)), dv, a0);
        a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(neg, Avx.LoadVector256(p1 + o), qv)), dv, a1);
        a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(neg, Avx.LoadVector256(p2 + o), qv)), dv, a2);
        a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(neg, Avx.LoadVector256(p3 + o), qv)), dv, a3);
    }

    /// <summary>Eight int32 partial sums of 32 products w·q, as floats. |w| ≤ 127 and |q| ≤ 127, so maddubs's i16 pairs cannot saturate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Block(sbyte* w, sbyte* q, Vector256<short> ones)
    {
        Vector256<sbyte> wv = Avx.LoadVector256(w);
        Vector256<sbyte> qv = Avx.LoadVector256(q);
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(Avx2.Abs(wv), Avx2.Sign(qv, wv));
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, ones));
    }
}
