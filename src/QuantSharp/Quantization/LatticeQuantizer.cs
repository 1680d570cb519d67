using System.Numerics;
using System.Numerics.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// Codes weights onto a <see cref="LatticeFormat"/> under per-weight error weights: for each scale span a search over
/// candidate scales (each entry chosen by weighted nearest point, then the scale refitted in closed form), a block scale
/// from the largest, and for each group the grid entry minimising <c>Σ w_k (|x_k| − q_k)²</c> with signs from the
/// weights; where the format stores only 7 signs and the 8th would be odd, the cheapest weight flips. One instance per
/// thread (it holds scratch).
/// </summary>
internal sealed class LatticeQuantizer
{
    /// <summary>Candidate scales, as fractions of "largest |x| on the largest grid level".</summary>
    private static readonly float[] ScaleFractions = [.. Enumerable.Range(0, 18).Select(i => 0.55f + (0.05f * i))];

    private readonly LatticeFormat _format;
    private readonly float[] _minusTwoA;
    private readonly float[] _b;
    private readonly float[] _spanScales;

    public LatticeQuantizer(LatticeFormat format)
    {
        _format = format;
        int chunks = LatticeFormat.BlockWeights / format.EntryWidth;
        _minusTwoA = new float[chunks * format.Entries];
        _b = new float[chunks * format.Entries];
        _spanScales = new float[LatticeFormat.BlockWeights / format.ScaleSpan];
    }

    /// <summary>Chooses the block scale and the 4-bit scale of each span of one block of 256 weights
    /// <paramref name="x"/> with error weights <paramref name="w"/>; <paramref name="scales"/> receives
    /// 256 / <see cref="LatticeFormat.ScaleSpan"/> codes.</summary>
    public Half ChooseScales(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<int> scales)
    {
        int width = _format.EntryWidth, entries = _format.Entries, span = _format.ScaleSpan;
        float best = 0;
        for (int s = 0; s < _spanScales.Length; s++)
        {
            ReadOnlySpan<float> xs = x.Slice(s * span, span);
            float amax = Math.Abs(TensorPrimitives.MaxMagnitude(xs));
            _spanScales[s] = 0;
            int firstChunk = s * span / width, chunks = span / width;
            for (int c = 0; c < chunks; c++)
            {
                Prepare(x.Slice((firstChunk + c) * width, width), w.Slice((firstChunk + c) * width, width), firstChunk + c);
            }

            if (amax == 0)
            {
                continue;
            }

            double bestError = 0;
            foreach (float fraction in ScaleFractions)
            {
                float db = amax / (_format.MaxLevel * fraction);
                double sa = 0, sb = 0;
                for (int c = 0; c < chunks; c++)
                {
                    int e = Nearest(firstChunk + c, db);
                    sa -= 0.5 * _minusTwoA[((firstChunk + c) * entries) + e];
                    sb += _b[((firstChunk + c) * entries) + e];
                }

                // With the scale refitted to Σa/Σb the weighted error is const − (Σa)²/Σb.
                if (sb > 0 && sa > 0 && -(sa * sa / sb) < bestError)
                {
                    bestError = -(sa * sa / sb);
                    _spanScales[s] = (float)(sa / sb);
                }
            }

            best = Math.Max(best, _spanScales[s]);
        }

        Half d = (Half)(best / _format.GroupScale(1, 15));
        if (best == 0 || (float)d == 0)
        {
            scales[.._spanScales.Length].Clear();
            return (Half)0;
        }

        for (int s = 0; s < _spanScales.Length; s++)
        {
            int nearest = 0;
            for (int k = 1; k < 16; k++)
            {
                if (Math.Abs(_format.GroupScale((float)d, k) - _spanScales[s]) < Math.Abs(_format.GroupScale((float)d, nearest) - _spanScales[s]))
                {
                    nearest = k;
                }
            }

            scales[s] = nearest;
        }

        return d;
    }

    /// <summary>Codes one group of 8 weights <paramref name="x"/> (error weights <paramref name="w"/>) at group scale
    /// <paramref name="db"/>: writes its 8 / <see cref="LatticeFormat.EntryWidth"/> entries, returns its sign byte and
    /// writes the decoded values to <paramref name="decoded"/>.</summary>
    public byte CodeGroup(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float db, Span<int> entries, Span<float> decoded)
        => CodeGroup(x, w, db, entries, decoded, -1);

    // firstSlot ≥ 0: the chunks' A and B are already in slots firstSlot, firstSlot + 1 (prepared by ChooseScales).
    private byte CodeGroup(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float db, Span<int> entries, Span<float> decoded, int firstSlot)
    {
        int width = _format.EntryWidth, n = _format.Entries;
        float[] grid = _format.Magnitudes;
        for (int c = 0; c < LatticeFormat.GroupWeights / width; c++)
        {
            int e = 0;
            if (db > 0)
            {
                if (firstSlot < 0)
                {
                    Prepare(x.Slice(c * width, width), w.Slice(c * width, width), 0);
                }

                e = Nearest(firstSlot < 0 ? 0 : firstSlot + c, db);
            }

            entries[c] = e;
            for (int k = 0; k < width; k++)
            {
                decoded[(c * width) + k] = db * grid[(k * n) + e];
            }
        }

        int signs = 0;
        for (int k = 0; k < LatticeFormat.GroupWeights; k++)
        {
            signs |= x[k] < 0 ? 1 << k : 0;
        }

        if (_format.SignParity && (BitOperations.PopCount((uint)signs) & 1) != 0)
        {
            // Flipping weight k's sign costs w_k·((|x_k| + q_k)² − (|x_k| − q_k)²) = 4·w_k·|x_k|·q_k.
            int cheapest = 0;
            float cost = float.PositiveInfinity;
            for (int k = 0; k < LatticeFormat.GroupWeights; k++)
            {
                float c = w[k] * Math.Abs(x[k]) * decoded[k];
                if (c < cost)
                {
                    cost = c;
                    cheapest = k;
                }
            }

            signs ^= 1 << cheapest;
        }

        for (int k = 0; k < LatticeFormat.GroupWeights; k++)
        {
            decoded[k] = decoded[k] * ((signs & (1 << k)) != 0 ? -1f : 1f);
        }

        return (byte)signs;
    }

    /// <summary>Codes one whole block (round to nearest under the error weights): the block's bytes into
    /// <paramref name="block"/> and its decoded values into <paramref name="decoded"/>.</summary>
    public void CodeBlock(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<byte> block, Span<float> decoded)
    {
        Span<int> scales = stackalloc int[LatticeFormat.BlockWeights / _format.ScaleSpan];
        Span<int> entries = stackalloc int[LatticeFormat.BlockWeights / _format.EntryWidth];
        Span<byte> signs = stackalloc byte[LatticeFormat.BlockWeights / LatticeFormat.GroupWeights];
        Half d = ChooseScales(x, w, scales);
        int perGroup = LatticeFormat.GroupWeights / _format.EntryWidth;
        for (int g = 0; g < signs.Length; g++)
        {
            int at = g * LatticeFormat.GroupWeights;
            float db = _format.GroupScale((float)d, scales[at / _format.ScaleSpan]);
            signs[g] = CodeGroup(x.Slice(at, 8), w.Slice(at, 8), db, entries.Slice(g * perGroup, perGroup), decoded.Slice(at, 8), g * perGroup);
        }

        _format.Pack(block, d, scales, entries, signs);
    }

    // −2·A[e] = −2 Σ_k w_k |x_k| g_k(e) and B[e] = Σ_k w_k g_k(e)² of one chunk, into slot `slot`.
    private void Prepare(ReadOnlySpan<float> x, ReadOnlySpan<float> w, int slot)
    {
        int n = _format.Entries;
        Span<float> a = _minusTwoA.AsSpan(slot * n, n), b = _b.AsSpan(slot * n, n);
        a.Clear();
        b.Clear();
        for (int k = 0; k < x.Length; k++)
        {
            TensorPrimitives.MultiplyAdd(_format.Magnitudes.AsSpan(k * n, n), -2 * w[k] * Math.Abs(x[k]), a, a);
            TensorPrimitives.MultiplyAdd(_format.Squares.AsSpan(k * n, n), w[k], b, b);
        }
    }

    // The entry minimising Σ w (|x| − db·g)² = const + db·(db·B − 2A) of the chunk in slot `slot` (first on ties).
    private unsafe int Nearest(int slot, float db)
    {
        int n = _format.Entries;
        fixed (float* b = &_b[slot * n], a = &_minusTwoA[slot * n])
        {
            var scale = Vector256.Create(db);
            Vector256<float> best = Vector256.Create(float.PositiveInfinity);
            Vector256<int> bestIndex = Vector256<int>.Zero, index = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), step = Vector256.Create(8);
            for (int e = 0; e < n; e += 8, index += step)
            {
                Vector256<float> score = Vector256.FusedMultiplyAdd(Vector256.Load(b + e), scale, Vector256.Load(a + e));
                Vector256<float> better = Vector256.LessThan(score, best);
                best = Vector256.ConditionalSelect(better, score, best);
                bestIndex = Vector256.ConditionalSelect(better.AsInt32(), index, bestIndex);
            }

            int winner = bestIndex[0];
            float min = best[0];
            for (int k = 1; k < 8; k++)
            {
                if (best[k] < min || (best[k] == min && bestIndex[k] < winner))
                {
                    min = best[k];
                    winner = bestIndex[k];
                }
            }

            return winner;
        }
    }
}
