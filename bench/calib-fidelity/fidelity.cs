#:project ../../src/QuantSharp/QuantSharp.csproj
using System.Diagnostics;
using System.Globalization;
using QuantSharp.Models;
using QuantSharp.Quantization;

// Calibrated quantization, fidelity to the float model (docs/RESULTS.md, "Calibrated quantization").
// For each quantized model: perplexity on the first W windows of a text (PerplexityEvaluator's protocol: the text
// tokenized as one string, spans of ctx − 1 tokens, each window [BOS] + span, every span token scored) and the mean
// KL(float ‖ quantized) of the next-token distributions at the same positions — the quantity all these methods try
// to keep small, and far less noisy than a perplexity difference on a weak model.
//   dotnet run -c Release fidelity.cs -- <model> <eval text> <calib text> <samples> <len> <windows> [damp] [exclude-bos] [rows]
//   rows: comma list of method:scheme[:source] with method rtn|gptq|awq, scheme int4-g128-asym etc., source text|self.
string modelPath = args[0];
using LoadedModel loaded = ModelLoader.Load(modelPath);
TransformerModel fp = loaded.Model;
var tok = loaded.RequireTokenizer();
int bos = tok.BosId!.Value;
int samples = int.Parse(args[3]), len = Math.Min(int.Parse(args[4]), fp.Config.MaxPositions), windows = int.Parse(args[5]);
double damp = args.Length > 6 ? double.Parse(args[6], CultureInfo.InvariantCulture) : 0.01;
bool excludeBos = args.Length > 7 && bool.Parse(args[7]);
string[] rows = args.Length > 8 ? args[8].Split(',') :
[
    "rtn:int4-g128-asym", "gptq:int4-g128-asym:text", "awq:int4-g128-asym:text", "gptq:int4-g128-asym:self", "awq:int4-g128-asym:self",
    "rtn:int3-g128-asym", "gptq:int3-g128-asym:text", "awq:int3-g128-asym:text", "gptq:int3-g128-asym:self", "awq:int3-g128-asym:self",
    "rtn:int2-g64-asym", "gptq:int2-g64-asym:text", "gptq:int2-g64-asym:self",
    "rtn:ternary-row", "gptq:ternary-row:text", "gptq:ternary-row:self",
];
int ctx = Math.Min(256, fp.Config.MaxPositions), V = fp.Config.VocabSize, d = fp.Config.HiddenSize;
int[] text = [.. tok.Encode(File.ReadAllText(args[1]))];
var wins = new List<int[]>();
for (int s = 0; s + ctx - 1 <= text.Length && wins.Count < windows; s += ctx - 1)
{
    wins.Add([bos, .. text[s..(s + ctx - 1)]]);
}

var data = new Dictionary<string, CalibrationData>
{
    ["text"] = CalibrationData.FromText(tok, File.ReadAllText(args[2]), samples, len, 1234, args[2]),
    ["self"] = CalibrationData.SelfGenerated(fp, bos, samples, len, 1.0f, 1234),
};

// Log-probabilities of every scored position, window by window.
double[][] LogProbs(TransformerModel m)
{
    var result = new double[wins.Count][];
    using var runner = new BlockRunner(m, ctx);
    float[] x = new float[ctx * d], logits = new float[ctx * V];
    for (int w = 0; w < wins.Count; w++)
    {
        BlockRunner.Embed(m, wins[w], x);
        for (int l = 0; l < m.Blocks.Length; l++)
        {
            runner.Run(m.Blocks[l], l, x, ctx);
        }

        BlockRunner.Head(m, x, ctx, logits);
        result[w] = new double[(ctx - 1) * V];
        for (int t = 0; t < ctx - 1; t++)
        {
            ReadOnlySpan<float> z = logits.AsSpan(t * V, V);
            double max = double.NegativeInfinity, sum = 0;
            foreach (float v in z) { max = Math.Max(max, v); }
            foreach (float v in z) { sum += Math.Exp(v - max); }
            double lse = max + Math.Log(sum);
            for (int i = 0; i < V; i++) { result[w][(t * V) + i] = z[i] - lse; }
        }
    }

    return result;
}

double[][] reference = LogProbs(fp);
(double Ppl, double Kl) Score(TransformerModel m)
{
    double[][] lp = ReferenceEquals(m, fp) ? reference : LogProbs(m);
    double nll = 0, kl = 0;
    long n = 0;
    for (int w = 0; w < wins.Count; w++)
    {
        for (int t = 0; t < ctx - 1; t++, n++)
        {
            nll -= lp[w][(t * V) + wins[w][t + 1]];
            for (int i = 0; i < V; i++)
            {
                double f = reference[w][(t * V) + i];
                kl += Math.Exp(f) * (f - lp[w][(t * V) + i]);
            }
        }
    }

    return (Math.Exp(nll / n), kl / n);
}

Console.WriteLine($"{Path.GetFileName(Path.TrimEndingDirectorySeparator(modelPath))}: {wins.Count} windows of {ctx} ({wins.Count * (ctx - 1)} scored tokens); calibration {samples}×{len}; damp {damp}; exclude BOS {excludeBos}");
Console.WriteLine("| method | scheme | calibration | ppl | KL(float‖q) nats/token | Σ layer loss | time (s) |");
Console.WriteLine("|---|---|---|---|---|---|---|");
(double p0, _) = Score(fp);
Console.WriteLine($"| float | f32 | - | {p0:F3} | 0 | - | - |");
foreach (string row in rows)
{
    string[] part = row.Split(':');
    QuantSpec spec = QuantSpec.ParseName(part[1]);
    var clock = Stopwatch.StartNew();
    // RTN runs through the calibrated path too (same weights as QuantizeRtn) so its layer losses are measured, on
    // the text calibration data.
    QuantMethod method = part[0] == "gptq" ? QuantMethod.Gptq : part[0] == "awq" ? QuantMethod.Awq : QuantMethod.Rtn;
    var options = new CalibrationOptions { ExcludeFirstPosition = excludeBos, Gptq = new GptqOptions { Damp = damp } };
    CalibratedResult r = CalibratedQuantization.Run(fp, data[part.Length > 2 ? part[2] : "text"], _ => spec, method, options);
    TransformerModel q = r.Model;
    string loss = r.Layers.Sum(l => l.Loss).ToString("G4", CultureInfo.InvariantCulture);

    double secs = clock.Elapsed.TotalSeconds;
    (double p, double kl) = Score(q);
    string label = part[0] == "rtn" ? (spec.Kind == QuantSchemeKind.Ternary ? "absmean" : "RTN") : part[0].ToUpperInvariant();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {label} | {spec.Name} | {(part.Length > 2 ? part[2] : "-")} | {p:F3} | {kl:F5} | {loss} | {secs:F1} |"));
}
