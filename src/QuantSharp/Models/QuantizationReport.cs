using System.Text.RegularExpressions;
using QuantSharp.Quantization;
using QuantSharp.Tensors;

namespace QuantSharp.Models;

/// <summary>One tensor of a written checkpoint: how it was stored before and after.</summary>
/// <param name="Name">Tensor name in the source (<c>….weight</c>).</param>
/// <param name="Group">The name with every numeric part replaced by <c>*</c> (e.g. <c>model.layers.*.mlp.up_proj.weight</c>).</param>
/// <param name="DType">Source dtype.</param>
/// <param name="Shape">Source shape.</param>
/// <param name="BytesBefore">Bytes in the source.</param>
/// <param name="BytesAfter">Bytes written (all packed parts and scales for a quantized tensor, qmeta excluded).</param>
/// <param name="Storage">Scheme name (<c>int4-g128-asym</c>, <c>bf16</c>) for a converted tensor, else the kept dtype (<c>f32</c>).</param>
/// <param name="Converted">Whether the tensor was quantized or converted.</param>
public sealed record TensorReport(string Name, string Group, DType DType, long[] Shape, long BytesBefore, long BytesAfter, string Storage, bool Converted)
{
    /// <summary>Number of elements.</summary>
    public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>The tensors of one group (same name up to layer numbers) summed.</summary>
/// <param name="Group">Group name (see <see cref="TensorReport.Group"/>).</param>
/// <param name="Tensors">Tensors in the group.</param>
/// <param name="Elements">Elements in the group.</param>
/// <param name="BytesBefore">Source bytes.</param>
/// <param name="BytesAfter">Written bytes.</param>
/// <param name="Storage">The storage of its tensors (several joined by <c>+</c> if they differ).</param>
public sealed record TensorGroupReport(string Group, int Tensors, long Elements, long BytesBefore, long BytesAfter, string Storage)
{
    /// <summary>Bits per weight after, scales included.</summary>
    public double BitsPerWeight => Elements > 0 ? BytesAfter * 8.0 / Elements : 0;
}

/// <summary>What <see cref="QuantizedCheckpointWriter.Write"/> wrote.</summary>
public sealed class QuantizationReport
{
    private static readonly Regex s_number = new(@"(?<=^|\.)\d+(?=\.|$)", RegexOptions.CultureInvariant);

    internal QuantizationReport(string output, IReadOnlyList<TensorReport> tensors, QuantizationConfig? config, long fileBytes, double seconds)
    {
        Output = output;
        Tensors = tensors;
        Config = config;
        FileBytes = fileBytes;
        Seconds = seconds;
        Groups = tensors.GroupBy(t => t.Group, StringComparer.Ordinal)
            .Select(g => new TensorGroupReport(g.Key, g.Count(), g.Sum(t => t.Elements), g.Sum(t => t.BytesBefore), g.Sum(t => t.BytesAfter),
                string.Join("+", g.Select(t => t.Storage).Distinct(StringComparer.Ordinal))))
            .ToList();
    }

    /// <summary>The output folder.</summary>
    public string Output { get; }

    /// <summary>Every tensor, in the order written.</summary>
    public IReadOnlyList<TensorReport> Tensors { get; }

    /// <summary>Tensors summed per group, in order of first appearance.</summary>
    public IReadOnlyList<TensorGroupReport> Groups { get; }

    /// <summary>The <c>quantization_config</c> written, or null when nothing was quantized (bf16 conversion only).</summary>
    public QuantizationConfig? Config { get; }

    /// <summary>Size of the written weight file.</summary>
    public long FileBytes { get; }

    /// <summary>Wall time of the write.</summary>
    public double Seconds { get; }

    /// <summary>Source bytes of all tensors.</summary>
    public long BytesBefore => Tensors.Sum(t => t.BytesBefore);

    /// <summary>Written bytes of all tensors.</summary>
    public long BytesAfter => Tensors.Sum(t => t.BytesAfter);

    /// <summary>Bits per weight of the converted tensors, scales included.</summary>
    public double ConvertedBitsPerWeight
    {
        get
        {
            long elements = Tensors.Where(t => t.Converted).Sum(t => t.Elements);
            return elements > 0 ? Tensors.Where(t => t.Converted).Sum(t => t.BytesAfter) * 8.0 / elements : 0;
        }
    }

    /// <summary>The group a tensor name belongs to: numeric parts replaced by <c>*</c>.</summary>
    public static string GroupOf(string name) => s_number.Replace(name, "*");
}
