using QuantSharp.Formats;
using QuantSharp.Quantization;

namespace QuantSharp.Tests.Quantization;

/// <summary>Random and real matrices shared by the quantization and kernel tests.</summary>
internal static class QuantTestData
{
    /// <summary>Every scheme variant the tests cover.</summary>
    public static readonly QuantSpec[] AllSpecs =
    [
        QuantSpec.Int8(),
        QuantSpec.Int4(32, true), QuantSpec.Int4(64, false), QuantSpec.Int4(128, true), QuantSpec.Int4(128, false),
        QuantSpec.FourBitFloat(false), QuantSpec.FourBitFloat(false, true), QuantSpec.FourBitFloat(true), QuantSpec.FourBitFloat(true, true),
        QuantSpec.Ternary(TernaryGranularity.PerTensor), QuantSpec.Ternary(TernaryGranularity.PerRow), QuantSpec.Ternary(TernaryGranularity.PerGroup, 64),
    ];

    public static TheoryData<string> SpecNames()
    {
        var data = new TheoryData<string>();
        foreach (QuantSpec s in AllSpecs)
        {
            data.Add(s.Name);
        }

        return data;
    }

    /// <summary>Gaussian-ish weights with a few outliers, fixed seed.</summary>
    public static float[] Random(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            w[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2) * 0.05);
            if (rng.Next(200) == 0)
            {
                w[i] *= 8;
            }
        }

        return w;
    }

    /// <summary>The <c>shared</c> folder next to the repository root, found by walking up from the test binaries.</summary>
    public static string SharedDir()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "shared", "models");
            if (Directory.Exists(candidate))
            {
                return Path.Combine(d.FullName, "shared");
            }
        }

        throw new DirectoryNotFoundException($"no 'shared/models' folder above {AppContext.BaseDirectory}");
    }

    /// <summary>Real linear weights: (name, rows, cols, values) from brown-llama and stories260K.</summary>
    public static IEnumerable<(string Name, int Rows, int Cols, float[] Values)> RealMatrices()
    {
        string shared = SharedDir();
        (string File, string[] Names)[] picks =
        [
            (Path.Combine(shared, "models", "stories260K", "hf", "model.safetensors"),
                ["model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.gate_proj.weight", "model.layers.1.self_attn.k_proj.weight"]),
            (Path.Combine(shared, "models", "brown-llama", "model.safetensors"),
                ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight"]),
        ];
        foreach ((string file, string[] names) in picks)
        {
            using SafetensorsFile f = SafetensorsFile.Open(file);
            foreach (string n in names)
            {
                var v = f.Tensors[n];
                yield return (n, (int)v.Shape[0], (int)v.Shape[1], v.ToFloatArray());
            }
        }
    }
}
