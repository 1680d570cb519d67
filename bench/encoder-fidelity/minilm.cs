#:project ../../src/QuantSharp/QuantSharp.csproj
#:property TieredCompilationQuickJitForLoops=false
#:property TieredPGO=true
using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using QuantSharp.Evaluation;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;

// Encoder fidelity table (docs/RESULTS.md, "Encoders: all-MiniLM-L6-v2"). For each row: the quantized model's
// sentence embeddings against the fp32 model's on the first N lines of wiki.test.raw with more than 5 words
// (deduplicated): mean and 1st-percentile cosine, recall@10 of each text's 10 nearest neighbours among all N;
// bits per block-linear weight (scales included) and the saved model.safetensors size; encode speed in texts/s at
// 1 and 2 threads on the first S texts (batches of 32), the two thread counts alternated R times, best kept.
//   dotnet run -c Release bench/encoder-fidelity/minilm.cs -- <shared> [N=2000] [S=256] [R=2] [rows]
// rows: comma list of method:scheme[:valid|self] (method rtn|gptq|awq|plan; scheme a QuantSpec name, fp32 or bf16).
string shared = args[0];
int n = args.Length > 1 ? int.Parse(args[1]) : 2000, speedTexts = args.Length > 2 ? int.Parse(args[2]) : 256, rounds = args.Length > 3 ? int.Parse(args[3]) : 2;
string folder = Path.Combine(shared, "models/all-MiniLM-L6-v2");
string[] rows = args.Length > 4 ? args[4].Split(',') :
[
    "rtn:fp32", "rtn:bf16", "rtn:int8", "rtn:int4-g32-sym", "rtn:int4-g32-asym", "rtn:int4-g128-sym", "rtn:int4-g128-asym", "rtn:nf4",
    "rtn:int3-g128-asym", "rtn:int2-g64-asym", "rtn:ternary-row",
    "gptq:int4-g128-asym:valid", "awq:int4-g128-asym:valid", "gptq:int4-g128-asym:self", "awq:int4-g128-asym:self",
    "gptq:int3-g128-asym:valid", "awq:int3-g128-asym:valid", "gptq:int3-g128-asym:self", "awq:int3-g128-asym:self",
    "gptq:int2-g64-asym:valid", "awq:int2-g64-asym:valid", "gptq:int2-g64-asym:self",
    "gptq:ternary-row:valid", "gptq:ternary-row:self", "plan:3.5:valid",
];

using LoadedModel fp = ModelLoader.Load(folder);
using var reference = SentenceEncoder.Create(fp);
List<string> texts = [.. File.ReadLines(Path.Combine(shared, "data/wikitext-2-raw/wiki.test.raw")).Select(l => l.Trim())
    .Where(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length > 5).Distinct().Take(n)];
List<int[]> ids = [.. texts.Select(reference.Tokenize)];
float[][] refEmb = reference.EmbedIds(ids);
var tokenizer = fp.RequireTokenizer();
var calib = new Dictionary<string, CalibrationData>
{
    ["valid"] = CalibrationData.FromText(tokenizer, File.ReadAllText(Path.Combine(shared, "data/wikitext-2-tokens/valid.txt")), 128, 128, 1234, "valid", encoder: true),
    ["self"] = CalibrationData.Unigram(tokenizer, 128, 128, 1234),
};
long linearParams = fp.Model.BlockLinears().Sum(l => (long)l.Weight.Rows * l.Weight.Cols);
Console.Error.WriteLine($"{texts.Count} texts, {ids.Sum(i => i.Length)} tokens; speed on the first {speedTexts}");
Console.WriteLine("| method | scheme | calibration | bits/weight (linears) | model.safetensors | cosine mean | cosine p1 | recall@10 | texts/s 1 thr | texts/s 2 thr | quantize s |");
Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|");
foreach (string row in rows)
{
    string[] p = row.Split(':');
    string method = p[0], scheme = p[1], source = p.Length > 2 ? p[2] : "";
    var clock = Stopwatch.StartNew();
    LoadedModel? owned = null;
    TransformerModel model;
    IReadOnlyDictionary<string, float[]>? replaced = null;
    string schemeLabel = scheme;
    if (scheme == "fp32")
    {
        model = fp.Model;
    }
    else if (scheme == "bf16")
    {
        owned = ModelLoader.Load(folder, QuantizingLinearProvider.Options(WeightFormat.BFloat16));
        model = owned.Model;
    }
    else if (method == "plan")
    {
        var measured = MixedPrecisionPlanner.Measure(fp.Model, CalibrationData.FromSequences([.. calib[source].Sequences.Take(8)], source), PlanCandidate.Defaults);
        QuantPlan plan = MixedPrecisionPlanner.Choose(measured, MixedPrecisionPlanner.BudgetForAverageBits(measured, double.Parse(scheme, CultureInfo.InvariantCulture)));
        CalibratedResult r = CalibratedQuantization.Run(fp.Model, calib[source], plan.SpecFor, QuantMethod.Gptq);
        (model, replaced) = (r.Model, r.ReplacedTensors);
        schemeLabel = $"plan {scheme} bits (" + string.Join(", ", plan.Entries.GroupBy(e => e.Choice).Select(g => $"{g.Count()}× {g.Key}")) + "), GPTQ";
    }
    else
    {
        QuantSpec spec = QuantSpec.ParseName(scheme);
        if (method == "rtn")
        {
            model = CalibratedQuantization.QuantizeRtn(fp.Model, _ => spec);
        }
        else
        {
            CalibratedResult r = CalibratedQuantization.Run(fp.Model, calib[source], spec, method == "gptq" ? QuantMethod.Gptq : QuantMethod.Awq);
            (model, replaced) = (r.Model, r.ReplacedTensors);
        }
    }

    double quantizeSeconds = clock.Elapsed.TotalSeconds;
    using var candidate = new SentenceEncoder(model, tokenizer, reference.Pooling);
    float[][] emb = candidate.EmbedIds(ids);
    double[] cos = [.. emb.Select((e, i) => (double)TensorPrimitives.CosineSimilarity(e, refEmb[i])).Order()];
    double recall = EncoderFidelity.RecallAtK(refEmb, emb, EncoderFidelity.Neighbours);
    long linearBytes = model.BlockLinears().Sum(l => l.Weight.BytesInMemory);
    long fileBytes = new FileInfo(Path.Combine(folder, "model.safetensors")).Length;
    if (scheme is not ("fp32" or "bf16"))
    {
        string output = Path.Combine(Path.GetTempPath(), $"minilm-bench-{Environment.ProcessId}");
        var linears = model.BlockLinears().ToDictionary(l => l.Name, l => l.Weight, StringComparer.Ordinal);
        QuantizedCheckpointWriter.Write(folder, output, (name, _) => linears.GetValueOrDefault(name), new CheckpointWriteOptions { Overwrite = true, ReplacedTensors = replaced });
        fileBytes = new FileInfo(Path.Combine(output, "model.safetensors")).Length;
        Directory.Delete(output, recursive: true);
    }
    else if (scheme == "bf16")
    {
        fileBytes -= 2 * linearParams; // the block linears stored at 2 bytes instead of 4
    }

    double[] speed = [0, 0];
    List<int[]> speedIds = ids.GetRange(0, Math.Min(speedTexts, ids.Count));
    for (int round = 0; round < rounds && speedIds.Count > 0; round++)
    {
        foreach (int threads in round % 2 == 0 ? new[] { 1, 2 } : [2, 1])
        {
            WorkerPool.SetSharedThreads(threads);
            var sw = Stopwatch.StartNew();
            candidate.EmbedIds(speedIds);
            speed[threads - 1] = Math.Max(speed[threads - 1], speedIds.Count / sw.Elapsed.TotalSeconds);
        }
    }

    WorkerPool.SetSharedThreads(Environment.ProcessorCount);
    string label = source == "" ? "—" : source == "valid" ? "wikitext-2 valid" : "self (unigram)";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {method.ToUpperInvariant()} | {schemeLabel} | {label} | {8.0 * linearBytes / linearParams:F2} | {fileBytes / 1048576.0:F1} MiB | {cos.Average():F5} | {cos[(int)(0.01 * (cos.Length - 1))]:F4} | {recall:F3} | {(speed[0] > 0 ? speed[0].ToString("F1", CultureInfo.InvariantCulture) : "—")} | {(speed[1] > 0 ? speed[1].ToString("F1", CultureInfo.InvariantCulture) : "—")} | {(scheme is "fp32" ? "" : quantizeSeconds.ToString("F1", CultureInfo.InvariantCulture))} |"));
    owned?.Dispose();
}
