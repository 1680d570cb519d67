namespace QuantSharp.Models;

/// <summary>
/// Context-extension rescaling of RoPE's inverse frequencies (<c>rope_scaling</c> of config.json), computed as
/// transformers' <c>_compute_linear_scaling_rope_parameters</c> and <c>_compute_llama3_parameters</c> do:
/// <c>linear</c> divides every frequency by <see cref="Factor"/>; <c>llama3</c> divides the low frequencies (wavelength
/// above <c>original_max_position_embeddings / low_freq_factor</c>) by the factor, keeps the high ones (wavelength
/// below <c>… / high_freq_factor</c>) and blends linearly in between. <c>factors</c> divides pair i's frequency by
/// <see cref="PairDivisors"/>[i], as llama.cpp does with a GGUF file's <c>rope_freqs.weight</c>.
/// </summary>
/// <param name="Type">"linear", "llama3" or "factors".</param>
/// <param name="Factor">The context extension factor.</param>
/// <param name="LowFreqFactor">llama3: <c>low_freq_factor</c>.</param>
/// <param name="HighFreqFactor">llama3: <c>high_freq_factor</c>.</param>
/// <param name="OriginalMaxPositions">llama3: <c>original_max_position_embeddings</c>.</param>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositions = 8192)
{
    /// <summary>"factors": the divisor of each rotated pair's frequency (llama.cpp's <c>rope_freqs</c>); null otherwise.</summary>
    public IReadOnlyList<float>? PairDivisors { get; init; }

    /// <summary>The divisors <paramref name="rotaryDim"/> / 2 pairs with base <paramref name="theta"/> get, as
    /// llama.cpp's converter writes them into <c>rope_freqs.weight</c> (unscaled frequency ÷ scaled frequency).</summary>
    public float[] DivisorsFor(int rotaryDim, double theta)
    {
        var divisors = new float[rotaryDim / 2];
        for (int i = 0; i < divisors.Length; i++)
        {
            double inverseFrequency = 1.0 / Math.Pow(theta, 2.0 * i / rotaryDim);
            divisors[i] = (float)(inverseFrequency / Apply(inverseFrequency, i));
        }

        return divisors;
    }

    /// <summary>The rescaled inverse frequency of rotated pair <paramref name="pair"/>.</summary>
    public double Apply(double inverseFrequency, int pair)
    {
        if (PairDivisors is { } divisors)
        {
            return inverseFrequency / divisors[pair];
        }

        if (Type == "linear")
        {
            return inverseFrequency / Factor;
        }

        double lowFreqWavelength = OriginalMaxPositions / LowFreqFactor;
        double highFreqWavelength = OriginalMaxPositions / HighFreqFactor;
        double wavelength = 2 * Math.PI / inverseFrequency;
        if (wavelength < highFreqWavelength)
        {
            return inverseFrequency;
        }

        if (wavelength > lowFreqWavelength)
        {
            return inverseFrequency / Factor;
        }

        double smooth = (OriginalMaxPositions / wavelength - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
        return (1 - smooth) * inverseFrequency / Factor + smooth * inverseFrequency;
    }
}
