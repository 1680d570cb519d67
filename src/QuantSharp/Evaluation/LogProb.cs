using System.Numerics.Tensors;

namespace QuantSharp.Evaluation;

/// <summary>Log-probabilities from logits.</summary>
public static class LogProb
{
    /// <summary>log softmax(logits)[target], computed stably in double for the normaliser.</summary>
    public static double Of(ReadOnlySpan<float> logits, int target)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float l in logits)
        {
            sum += Math.Exp(l - max);
        }

        return logits[target] - max - Math.Log(sum);
    }

    /// <summary>log softmax(logits) into <paramref name="destination"/>, the normaliser in double.</summary>
    public static void LogSoftmax(ReadOnlySpan<float> logits, Span<double> destination)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float l in logits)
        {
            sum += Math.Exp(l - max);
        }

        double log = max + Math.Log(sum);
        for (int i = 0; i < logits.Length; i++)
        {
            destination[i] = logits[i] - log;
        }
    }
}
