using System.Text.Json;
using System.Text.Json.Nodes;
using QuantSharp.Formats;
using QuantSharp.Kernels;
using QuantSharp.Models;

using QuantSharp.Quantization;

namespace QuantSharp.Calibration;

/// <summary>
/// Saves a quantized model as a Hugging Face checkpoint folder in the GPTQ or AutoAWQ GEMM layout
/// (<c>model.safetensors</c> + <c>config.json</c> with <c>quantization_config</c> + tokenizer files), loadable by
/// transformers and by <see cref="HfQuantizedProvider"/>. The folder appears atomically (written under a temporary
/// name, then renamed).
/// </summary>
public static class HfQuantizedCheckpoint
{
    /// <summary>Writes <paramref name="model"/> (its block linears grouped int weights of one scheme) to <paramref name="outDir"/>,
    /// replacing an existing non-empty folder only when <paramref name="overwrite"/> (<c>--force</c>).</summary>
    /// <exception cref="QuantSharpException">Mixed schemes, a scheme the layout cannot hold, or <paramref name="outDir"/>
    /// is a file or (without <paramref name="overwrite"/>) a non-empty folder.</exception>
    public static void Save(TransformerModel model, string sourceFolder, string outDir, HfQuantLayout layout, bool overwrite = false)
    {
        var linears = model.BlockLinears().ToList();
        var specs = linears.Select(l => (l.Weight as PackedLinear)?.Spec).Distinct().ToList();
        if (specs.Count != 1 || specs[0] is not QuantSpec spec || !spec.IsIntGroup)
        {
            throw new QuantSharpException($"the {layout} layout needs every block linear in one int4/int2 group scheme; found {string.Join(", ", linears.Select(l => l.Weight.Scheme).Distinct())}");
        }

        if (model.Spec.IsEncoder || model.Spec.LinearBias || model.Spec.Norm != NormKind.Rms)
        {
            throw new QuantSharpException($"the {layout} layout is written for Llama-family and GLM decoders; {model.Config.Architecture} (norm biases, linear biases) is not supported: save it in the quantsharp layout");
        }

        bool actOrder = linears.Any(l => l.Weight is IntGroupLinear { HasGIdx: true });
        using AtomicFolder folder = AtomicFolder.Begin(outDir, overwrite);
        string temp = folder.TempPath;
        using (var writer = new SafetensorsWriter(temp))
        {
            ArchitectureSpec a = model.Spec;
            AddDense(writer, a.Embedding, model.Embedding);
            for (int i = 0; i < model.Blocks.Length; i++)
            {
                writer.Add(a.LayerPrefix(i) + a.AttnNorm, [model.Blocks[i].AttnNorm.Length], model.Blocks[i].AttnNorm);
                writer.Add(a.LayerPrefix(i) + a.MlpNorm, [model.Blocks[i].MlpNorm.Length], model.Blocks[i].MlpNorm);
            }

            (float[] finalNorm, ILinearWeight head) = model.RequireHead();
            writer.Add(a.FinalNorm!, [finalNorm.Length], finalNorm);
            if (!model.Config.TieWordEmbeddings)
            {
                AddDense(writer, a.LmHead!, head);
            }

            foreach ((string name, ILinearWeight w) in linears)
            {
                if (layout == HfQuantLayout.Gptq)
                {
                    HfQuantizedWriter.WriteGptq(writer, name, w);
                }
                else
                {
                    HfQuantizedWriter.WriteAwq(writer, name, w);
                }
            }

            writer.Commit(Path.Combine(temp, "model.safetensors"));
        }

        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(sourceFolder, "config.json")))
            ?? throw new QuantSharpException($"{sourceFolder}/config.json is empty");
        config["quantization_config"] = layout == HfQuantLayout.Gptq
            ? new JsonObject
            {
                ["quant_method"] = "gptq", ["bits"] = spec.Bits, ["group_size"] = spec.GroupSize, ["desc_act"] = actOrder,
                ["sym"] = spec.Symmetric, ["checkpoint_format"] = "gptq", ["true_sequential"] = true, ["static_groups"] = false,
            }
            : new JsonObject
            {
                ["quant_method"] = "awq", ["bits"] = 4, ["group_size"] = spec.GroupSize, ["version"] = "gemm", ["zero_point"] = !spec.Symmetric,
            };
        if (layout == HfQuantLayout.AwqGemm && spec.Symmetric)
        {
            throw new QuantSharpException("the AWQ GEMM layout is written with zero points; quantize asymmetric (without --sym)");
        }

        File.WriteAllText(Path.Combine(temp, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        foreach (string extra in new[] { "tokenizer.model", "tokenizer_config.json", "tokenizer.json", "special_tokens_map.json", "generation_config.json" })
        {
            string src = Path.Combine(sourceFolder, extra);
            if (File.Exists(src))
            {
                File.Copy(src, Path.Combine(temp, extra));
            }
        }

        folder.Commit();
    }

    private static void AddDense(SafetensorsWriter writer, string name, ILinearWeight w)
    {
        if (w is DenseLinear d)
        {
            writer.Add(d.View, name);
            return;
        }

        writer.Add(name, [w.Rows, w.Cols], CalibratedQuantization.DenseOf(w));
    }
}
