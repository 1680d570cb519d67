namespace QuantSharp.Models;

/// <summary>Rotary position embeddings with cos/sin tables precomputed once per model.</summary>
public sealed class RotaryEmbedding
{
    private readonly float[] _cos;
    private readonly float[] _sin;
    private readonly int _pairs;

    /// <summary>Builds tables for <paramref name="maxPositions"/> positions.</summary>
    /// <param name="headDim">Dimension of a head.</param>
    /// <param name="rotaryDim">How many leading dimensions of a head are rotated (even).</param>
    /// <param name="theta">RoPE base.</param>
    /// <param name="maxPositions">Table length.</param>
    /// <param name="style">Pairing convention.</param>
    /// <param name="scaling">Context-extension rescaling of the frequencies (<c>rope_scaling</c>), or null.</param>
    public RotaryEmbedding(int headDim, int rotaryDim, double theta, int maxPositions, RopeStyle style, RopeScaling? scaling = null)
    {
        HeadDim = headDim;
        RotaryDim = rotaryDim;
        Style = style;
        _pairs = rotaryDim / 2;
        _cos = new float[maxPositions * _pairs];
        _sin = new float[maxPositions * _pairs];
        MaxPositions = maxPositions;
        for (int i = 0; i < _pairs; i++)
        {
            // Same arithmetic as the reference implementations: inverse frequency in float32, angle in float32.
            double baseInvFreq = 1.0 / Math.Pow(theta, 2.0 * i / rotaryDim);
            float invFreq = (float)(scaling?.Apply(baseInvFreq, i) ?? baseInvFreq);
            for (int p = 0; p < maxPositions; p++)
            {
                float angle = p * invFreq;
                _cos[p * _pairs + i] = MathF.Cos(angle);
                _sin[p * _pairs + i] = MathF.Sin(angle);
            }
        }
    }

    /// <summary>Head dimension.</summary>
    public int HeadDim { get; }

    /// <summary>Rotated dimensions per head.</summary>
    public int RotaryDim { get; }

    /// <summary>Pairing convention.</summary>
    public RopeStyle Style { get; }

    /// <summary>Positions covered by the tables.</summary>
    public int MaxPositions { get; }

    /// <summary>Rotates every head in <paramref name="heads"/> (heads × HeadDim floats) for position <paramref name="position"/>.</summary>
    public void Apply(Span<float> heads, int headCount, int position)
    {
        if ((uint)position >= (uint)MaxPositions)
        {
            throw new ArgumentOutOfRangeException(nameof(position), $"position {position} is past the model's context of {MaxPositions}");
        }

        ReadOnlySpan<float> cos = _cos.AsSpan(position * _pairs, _pairs);
        ReadOnlySpan<float> sin = _sin.AsSpan(position * _pairs, _pairs);
        for (int h = 0; h < headCount; h++)
        {
            Span<float> v = heads.Slice(h * HeadDim, HeadDim);
            if (Style == RopeStyle.RotateHalf)
            {
                for (int i = 0; i < _pairs; i++)
                {
                    float x1 = v[i], x2 = v[i + _pairs];
                    v[i] = x1 * cos[i] - x2 * sin[i];
                    v[i + _pairs] = x2 * cos[i] + x1 * sin[i];
                }
            }
            else
            {
                for (int i = 0; i < _pairs; i++)
                {
                    float x1 = v[2 * i], x2 = v[2 * i + 1];
                    v[2 * i] = x1 * cos[i] - x2 * sin[i];
                    v[2 * i + 1] = x2 * cos[i] + x1 * sin[i];
                }
            }
        }
    }
}
