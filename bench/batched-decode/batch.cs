#:project ../../src/QuantSharp/QuantSharp.csproj
#:property TieredCompilationQuickJitForLoops=false
#:property TieredPGO=true
// Decode step time of SequenceBatch for B sequences (one token each), alternating B values in rounds.
// Usage: dotnet run -c Release bench/batched-decode/batch.cs -- MODEL [B,B,...] [steps] [rounds]
using System.Diagnostics;
using QuantSharp.Models;

string path = args[0];
int[] sizes = (args.Length > 1 ? args[1] : "1,4,8,16").Split(',').Select(int.Parse).ToArray();
int steps = args.Length > 2 ? int.Parse(args[2]) : 16;
int rounds = args.Length > 3 ? int.Parse(args[3]) : 3;
using LoadedModel loaded = ModelLoader.Load(path);
TransformerModel model = loaded.Model;
int vocab = model.Config.VocabSize;
int maxB = sizes.Max();
var sessions = Enumerable.Range(0, maxB).Select(_ => new InferenceSession(model, 512, maxBatch: 1)).ToArray();
var batch = new SequenceBatch(model, maxB, maxB);
float[] logits = new float[maxB * vocab];
int[] counts = Enumerable.Repeat(1, maxB).ToArray();
int[] tokens = Enumerable.Range(0, maxB).Select(i => 100 + i).ToArray();
var best = new Dictionary<int, double>();
for (int round = 0; round < rounds; round++)
{
    foreach (int b in sizes)
    {
        foreach (var s in sessions) s.Reset();
        batch.Forward(sessions.AsSpan(0, b), tokens.AsSpan(0, b), counts.AsSpan(0, b), logits);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            batch.Forward(sessions.AsSpan(0, b), tokens.AsSpan(0, b), counts.AsSpan(0, b), logits);
        }

        double perStep = clock.Elapsed.TotalSeconds / steps;
        best[b] = Math.Min(best.GetValueOrDefault(b, double.MaxValue), perStep);
    }
}

double one = best[sizes[0]];
Console.WriteLine($"{Path.GetFileName(path)}  threads={Environment.ProcessorCount}");
Console.WriteLine("B  ms/step  tok/s aggregate  tok/s per sequence  per-seq ÷ B=first");
foreach (int b in sizes)
{
    Console.WriteLine($"{b,-3}{best[b] * 1000,8:F1}  {b / best[b],15:F1}  {1 / best[b],18:F1}  {one / best[b],8:F2}");
}
