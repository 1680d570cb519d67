namespace QuantSharp.Models;

/// <summary>
/// The hyper-parameters of a known Llama-family model, used to write random-weight checkpoints of its exact shapes for
/// speed measurements (<see cref="SyntheticCheckpoint"/>).
/// </summary>
/// <param name="Name">Preset name as given on the command line.</param>
/// <param name="HiddenSize">Model width.</param>
/// <param name="IntermediateSize">MLP width.</param>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads (GQA).</param>
/// <param name="VocabSize">Vocabulary size.</param>
/// <param name="MaxPositions">Context length.</param>
/// <param name="RopeTheta">RoPE base.</param>
/// <param name="TieWordEmbeddings">Whether the classifier is the embedding matrix.</param>
public sealed record SyntheticModelShape(
    string Name, int HiddenSize, int IntermediateSize, int Layers, int Heads, int KvHeads, int VocabSize, int MaxPositions, double RopeTheta, bool TieWordEmbeddings)
{
    /// <summary>The presets <see cref="Parse"/> knows, for help texts.</summary>
    public const string KnownNames = "tinyllama-1.1b, llama-3.2-1b, llama-2-7b, llama-2-7b-layers:N";

    /// <summary>Parameters in all tensors (embedding, blocks, norms, classifier unless tied).</summary>
    public long ParameterCount
    {
        get
        {
            long d = HiddenSize, f = IntermediateSize, hd = HiddenSize / Heads;
            long block = (d * Heads * hd) + (2 * d * KvHeads * hd) + (Heads * hd * d) + (3 * d * f) + (2 * d);
            return (VocabSize * d * (TieWordEmbeddings ? 1 : 2)) + (Layers * block) + d;
        }
    }

    /// <summary>Parses a preset name: <c>tinyllama-1.1b</c>, <c>llama-3.2-1b</c>, <c>llama-2-7b</c>, or any of them with
    /// <c>-layers:N</c> appended to keep only the first N blocks (same widths, so per-layer speed is the real model's).</summary>
    /// <exception cref="QuantSharpException">An unknown name or a bad layer count.</exception>
    public static SyntheticModelShape Parse(string name)
    {
        string baseName = name;
        int? layers = null;
        int cut = name.IndexOf("-layers:", StringComparison.Ordinal);
        if (cut >= 0)
        {
            baseName = name[..cut];
            string n = name[(cut + "-layers:".Length)..];
            if (!int.TryParse(n, out int parsed) || parsed < 1)
            {
                throw new QuantSharpException($"'{name}': the layer count after '-layers:' must be a positive integer");
            }

            layers = parsed;
        }

        SyntheticModelShape shape = baseName switch
        {
            "tinyllama-1.1b" => new(name, 2048, 5632, 22, 32, 4, 32000, 2048, 10000, false),
            "llama-3.2-1b" => new(name, 2048, 8192, 16, 32, 8, 128256, 131072, 500000, true),
            "llama-2-7b" => new(name, 4096, 11008, 32, 32, 32, 32000, 4096, 10000, false),
            _ => throw new QuantSharpException($"unknown model shape '{name}'; known: {KnownNames}"),
        };
        if (layers is int l)
        {
            if (l > shape.Layers)
            {
                throw new QuantSharpException($"'{name}': {baseName} has only {shape.Layers} layers");
            }

            shape = shape with { Layers = l };
        }

        return shape;
    }
}
