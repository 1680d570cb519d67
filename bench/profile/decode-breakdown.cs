#:project ../../src/QuantSharp/QuantSharp.csproj
// Per-op stopwatch breakdown of batch-1 decode, 3 × 200 tokens (the last line is warm):
//   DOTNET_TC_QuickJitForLoops=0 dotnet run -c Release bench/profile/decode-breakdown.cs -- MODEL [scheme] [threads]
#:property AllowUnsafeBlocks=true
using System.Diagnostics;
using System.Numerics.Tensors;
using QuantSharp.Kernels;
using QuantSharp.Models;

// Per-op stopwatch breakdown of batch-1 decode (mirrors InferenceSession.ForwardChunk for Llama without biases).
string path = args[0]; string scheme = args.Length > 1 ? args[1] : "";
int threads = args.Length > 2 ? int.Parse(args[2]) : 1;
WorkerPool.SetSharedThreads(threads);
using LoadedModel lm = scheme == "" ? ModelLoader.Load(path) : ModelLoader.Load(path, new LoadOptions { LinearProvider = (c, s) => new SchemeLinearProvider(c, s, scheme) });
var m = lm.Model; var c = m.Config;
int d = c.HiddenSize, f = c.IntermediateSize, qd = c.Heads * c.HeadDim, kd = c.KvHeads * c.HeadDim;
int ctx = 256;
var rope = new RotaryEmbedding(c.HeadDim, c.HeadDim, c.RopeTheta, ctx, m.Spec.Rope);
using var cache = new KvCache(c.Layers, c.KvHeads, c.HeadDim, ctx);
float[] x = new float[d], xn = new float[d], q = new float[qd], k = new float[kd], v = new float[kd], att = new float[qd], o = new float[d], gate = new float[f], up = new float[f], logits = new float[c.VocabSize];
string[] names = { "embed", "norm", "q", "k", "v", "rope+store", "attn", "o", "add", "gate", "up", "swiglu", "down", "lmhead", "argmax" };
long[] ticks = new long[names.Length];
int tok = 1;
for (int rep = 0; rep < 3; rep++)
{
  Array.Clear(ticks);
  var total = Stopwatch.StartNew();
  for (int pos = 0; pos < 200; pos++)
  {
    long t0 = Stopwatch.GetTimestamp(), t1;
    void Mark(int i) { t1 = Stopwatch.GetTimestamp(); ticks[i] += t1 - t0; t0 = t1; }
    m.Embedding.DequantizeRow(tok, x); Mark(0);
    foreach (var b in m.Blocks)
    {
      RmsNorm.Apply(x, b.AttnNorm, c.NormEps, xn); Mark(1);
      b.Q!.MatVec(xn, q); Mark(2);
      b.K!.MatVec(xn, k); Mark(3);
      b.V!.MatVec(xn, v); Mark(4);
      rope.Apply(q, c.Heads, pos); rope.Apply(k, c.KvHeads, pos); cache.Store(Array.IndexOf(m.Blocks, b), pos, k, v); Mark(5);
      Attention.Run(q, att, cache, Array.IndexOf(m.Blocks, b), c.Heads, pos, 1); Mark(6);
      b.O.MatVec(att, o); Mark(7);
      TensorPrimitives.Add(x, o, x); RmsNorm.Apply(x, b.MlpNorm, c.NormEps, xn); Mark(8);
      b.Gate!.MatVec(xn, gate); Mark(9);
      b.Up!.MatVec(xn, up); Mark(10);
      TensorPrimitives.Multiply(gate, up, up); TensorPrimitives.Sigmoid(gate, gate); TensorPrimitives.Multiply(gate, up, gate); Mark(11);
      b.Down.MatVec(gate, o); TensorPrimitives.Add(x, o, x); Mark(12);
    }
    RmsNorm.Apply(x, m.FinalNorm, c.NormEps, xn); m.LmHead.MatVec(xn, logits); Mark(13);
    tok = TensorPrimitives.IndexOfMax<float>(logits); Mark(14);
  }
  double us = total.Elapsed.TotalMicroseconds / 200;
  Console.WriteLine($"rep {rep}: {us:F1} us/token ({1e6/us:F0} tok/s) " + string.Join(" ", names.Select((n, i) => $"{n}={ticks[i] * 1e6 / Stopwatch.Frequency / 200:F1}")));
}
