namespace QuantSharp.Kernels;

/// <summary>
/// Context-extension rescaling of RoPE's inverse frequencies (<c>rope_scaling</c> of config.json), computed as
/// transformers' <c>_compute_linear_scaling_rope_parameters</c> and <c>_compute_llama3_parameters</c> do:
/// <c>linear</c> divides every frequency by <see cref="Factor"/>; <c>llama3</c> divides the low frequencies (wavelength
/// above <c>original_max_position_embeddings / low_freq_factor</c>) by the factor, keeps the high ones (wavelength
/// below <c>… / high_freq_factor</c>) and blends linearly in between.
/// </summary>
/// <param name="Type">"linear" or "llama3".</param>
/// <param name="Factor">The context extension factor.</param>
/// <param name="LowFreqFactor">llama3: <c>low_freq_factor</c>.</param>
/// <param name="HighFreqFactor">llama3: <c>high_freq_factor</c>.</param>
/// <param name="OriginalMaxPositions">llama3: <c>original_max_position_embeddings</c>.</param>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositions = 8192)
{
    /// <summary>The rescaled inverse frequency.</summary>
    public double Apply(double inverseFrequency)
    {
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
