using System.Numerics.Tensors;

namespace QuantSharp.Models;

/// <summary>Chooses the next token from logits: greedy, or temperature / top-k / top-p sampling, with repetition penalty.</summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private readonly float[] _probs;
    private readonly int[] _order;
    private readonly bool[] _penalised;
    private readonly Comparison<int> _byProbabilityDescending;

    /// <summary>Creates a sampler for a vocabulary of <paramref name="vocab"/> tokens.</summary>
    public Sampler(SamplingOptions options, int vocab)
    {
        _options = options;
        _random = new Random(options.Seed);
        _probs = new float[vocab];
        _order = new int[vocab];
        _penalised = new bool[vocab];
        _byProbabilityDescending = (a, b) => _probs[b].CompareTo(_probs[a]);
    }

    /// <summary>Picks a token. <paramref name="logits"/> is modified (penalty, temperature).</summary>
    public int Next(Span<float> logits, IReadOnlyCollection<int> seen)
    {
        if (_options.RepetitionPenalty != 1f)
        {
            // Each distinct token once; the mask is cleared again so the next call starts clean (no per-token allocation).
            foreach (int id in seen)
            {
                if (!_penalised[id])
                {
                    _penalised[id] = true;
                    logits[id] = logits[id] > 0 ? logits[id] / _options.RepetitionPenalty : logits[id] * _options.RepetitionPenalty;
                }
            }

            foreach (int id in seen)
            {
                _penalised[id] = false;
            }
        }

        if (_options.Temperature <= 0f)
        {
            return TensorPrimitives.IndexOfMax(logits);
        }

        int n = logits.Length;
        Span<float> probs = _probs.AsSpan(0, n);
        TensorPrimitives.Divide(logits, _options.Temperature, probs);
        Kernels.Softmax.InPlace(probs);
        Span<int> order = _order.AsSpan(0, n);
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
        }

        order.Sort(_byProbabilityDescending);
        int keep = _options.TopK > 0 ? Math.Min(_options.TopK, n) : n;
        if (_options.TopP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < keep; i++)
            {
                cumulative += probs[order[i]];
                if (cumulative >= _options.TopP)
                {
                    keep = i + 1;
                    break;
                }
            }
        }

        double total = 0;
        for (int i = 0; i < keep; i++)
        {
            total += probs[order[i]];
        }

        double r = _random.NextDouble() * total;
        for (int i = 0; i < keep; i++)
        {
            r -= probs[order[i]];
            if (r <= 0)
            {
                return order[i];
            }
        }

        return order[keep - 1];
    }
}
