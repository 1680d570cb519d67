using System.Text;
using System.Text.Json;

namespace QuantSharp.Quantization;

/// <summary>One layer's choice in a <see cref="QuantPlan"/>.</summary>
/// <param name="Layer">Tensor name of the linear weight.</param>
/// <param name="Choice">Candidate label (<c>8</c>, <c>4</c>, <c>3</c>, <c>2</c>, <c>ternary</c>).</param>
/// <param name="Spec">The scheme.</param>
/// <param name="Bytes">Packed bytes at this choice.</param>
/// <param name="Sensitivity">Measured loss increase (mean KL divergence, nats/token) at this choice when only this layer is quantized.</param>
public sealed record PlanEntry(string Layer, string Choice, QuantSpec Spec, long Bytes, double Sensitivity);

/// <summary>A mixed-precision plan: one scheme per linear layer, with its bytes and measured sensitivity. Saved as plan.json.</summary>
/// <remarks>JSON: <c>{"format":"quantsharp-plan","version":1,"budget_bytes":N,"total_bytes":N,"estimated_kl":x,
/// "layers":[{"name":…,"choice":"4","scheme":"int4-g128-asym","bytes":N,"sensitivity":x}, …]}</c>.</remarks>
public sealed class QuantPlan
{
    private readonly Dictionary<string, PlanEntry> _byName;

    /// <summary>Creates a plan.</summary>
    public QuantPlan(IReadOnlyList<PlanEntry> entries, long budgetBytes)
    {
        Entries = entries;
        BudgetBytes = budgetBytes;
        _byName = entries.ToDictionary(e => e.Layer, StringComparer.Ordinal);
    }

    /// <summary>The layers in forward order.</summary>
    public IReadOnlyList<PlanEntry> Entries { get; }

    /// <summary>The budget the plan was made for.</summary>
    public long BudgetBytes { get; }

    /// <summary>Bytes of all planned layers.</summary>
    public long TotalBytes => Entries.Sum(e => e.Bytes);

    /// <summary>Sum of the chosen sensitivities (the planner's estimate of the loss increase).</summary>
    public double EstimatedKl => Entries.Sum(e => e.Sensitivity);

    /// <summary>The scheme of <paramref name="layer"/>.</summary>
    /// <exception cref="QuantSharpException">The plan has no entry for the layer.</exception>
    public QuantSpec SpecFor(string layer) => _byName.TryGetValue(layer, out PlanEntry? e)
        ? e.Spec
        : throw new QuantSharpException($"the plan has no entry for '{layer}' (it was made for another model?)");

    /// <summary>Writes plan.json atomically (temp file, then rename).</summary>
    public void Save(string path)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", "quantsharp-plan");
            w.WriteNumber("version", 1);
            w.WriteNumber("budget_bytes", BudgetBytes);
            w.WriteNumber("total_bytes", TotalBytes);
            w.WriteNumber("estimated_kl", EstimatedKl);
            w.WriteStartArray("layers");
            foreach (PlanEntry e in Entries)
            {
                w.WriteStartObject();
                w.WriteString("name", e.Layer);
                w.WriteString("choice", e.Choice);
                w.WriteString("scheme", e.Spec.Name);
                w.WriteNumber("bytes", e.Bytes);
                w.WriteNumber("sensitivity", e.Sensitivity);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        Formats.AtomicFile.WriteAllBytes(Path.GetFullPath(path), buffer.ToArray());
    }

    /// <summary>Reads plan.json.</summary>
    /// <exception cref="QuantSharpException">Missing file, malformed JSON, or an unknown scheme (the message names the file).</exception>
    public static QuantPlan Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new QuantSharpException($"{path}: plan file not found");
        }

        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            JsonElement root = doc.RootElement;
            if (!root.TryGetProperty("format", out JsonElement f) || f.GetString() != "quantsharp-plan")
            {
                throw new QuantSharpException($"{path}: not a quantsharp plan (\"format\" is not \"quantsharp-plan\")");
            }

            var entries = new List<PlanEntry>();
            foreach (JsonElement e in root.GetProperty("layers").EnumerateArray())
            {
                entries.Add(new PlanEntry(e.GetProperty("name").GetString()!, e.GetProperty("choice").GetString()!,
                    QuantSpec.ParseName(e.GetProperty("scheme").GetString()!), e.GetProperty("bytes").GetInt64(), e.GetProperty("sensitivity").GetDouble()));
            }

            return new QuantPlan(entries, root.GetProperty("budget_bytes").GetInt64());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or QuantSharpException)
        {
            throw new QuantSharpException($"{path}: malformed plan: {e.Message}", e);
        }
    }

    /// <summary>A text table: layer, choice, scheme, bytes, sensitivity.</summary>
    public string ToTable()
    {
        var sb = new StringBuilder();
        int width = Math.Max(5, Entries.Max(e => e.Layer.Length));
        sb.AppendLine($"{"layer".PadRight(width)}  bits     scheme            bytes  sensitivity(KL)");
        foreach (PlanEntry e in Entries)
        {
            sb.AppendLine(FormattableString.Invariant($"{e.Layer.PadRight(width)}  {e.Choice,-7}  {e.Spec.Name,-15}  {e.Bytes,7}  {e.Sensitivity,12:G4}"));
        }

        sb.Append(FormattableString.Invariant($"total {TotalBytes} bytes (budget {BudgetBytes}), estimated KL {EstimatedKl:G4}"));
        return sb.ToString();
    }
}
