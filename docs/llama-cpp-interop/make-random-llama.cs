#:project ../../src/QuantSharp/QuantSharp.csproj
using QuantSharp.Formats.Gguf;

// A random-weight Llama in GGUF, written by QuantSharp's GgufWriter, to see whether llama.cpp loads it.
string outPath = args[0];
var type = GgmlTypeInfo.TryParse(args[1], out var t) ? t : GgmlType.F32;
const int vocab = 512, embd = 256, ff = 512, layers = 2, heads = 4;
var rng = new Random(1);
float[] Rand(int n, float s) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * s; return a; }
using var w = new GgufWriter();
w.Add("general.architecture", "llama");
w.Add("general.name", "quantsharp-random-llama");
w.Add("general.quantization_version", 2u);
w.Add("general.file_type", type switch { GgmlType.F32 => 0u, GgmlType.F16 => 1u, GgmlType.Q4_0 => 2u, GgmlType.Q8_0 => 7u, GgmlType.Q4_K => 15u, GgmlType.Q6_K => 18u, GgmlType.TQ2_0 => 37u, _ => 0u });
w.Add("llama.context_length", 256u);
w.Add("llama.embedding_length", (uint)embd);
w.Add("llama.block_count", (uint)layers);
w.Add("llama.feed_forward_length", (uint)ff);
w.Add("llama.attention.head_count", (uint)heads);
w.Add("llama.attention.head_count_kv", (uint)heads);
w.Add("llama.rope.dimension_count", (uint)(embd / heads));
w.Add("llama.attention.layer_norm_rms_epsilon", 1e-5f);
w.Add("llama.vocab_size", (uint)vocab);
var tokens = new string[vocab]; var scores = new float[vocab]; var types = new int[vocab];
tokens[0] = "<unk>"; types[0] = 2; tokens[1] = "<s>"; types[1] = 3; tokens[2] = "</s>"; types[2] = 3;
for (int i = 0; i < 256; i++) { tokens[3 + i] = $"<0x{i:X2}>"; types[3 + i] = 6; }
for (int i = 259; i < vocab; i++) { tokens[i] = "▁t" + i; types[i] = 1; scores[i] = -i; }
w.Add("tokenizer.ggml.model", "llama");
w.Add("tokenizer.ggml.tokens", tokens);
w.Add("tokenizer.ggml.scores", scores);
w.Add("tokenizer.ggml.token_type", types);
w.Add("tokenizer.ggml.bos_token_id", 1u);
w.Add("tokenizer.ggml.eos_token_id", 2u);
w.Add("tokenizer.ggml.unknown_token_id", 0u);
void Matrix(string name, int rows, int cols, GgmlType ty) { var m = Rand(rows * cols, 1f / MathF.Sqrt(cols)); w.AddTensor(name, ty, new long[] { cols, rows }, GgufQuantize.Matrix(ty, m, rows, cols)); }
void Vector(string name, int n) { var v = new float[n]; for (int i = 0; i < n; i++) v[i] = 1f + (float)(rng.NextDouble() - 0.5) * 0.2f; w.AddTensor(name, GgmlType.F32, new long[] { n }, System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan())); }
Matrix("token_embd.weight", vocab, embd, type == GgmlType.TQ2_0 ? GgmlType.Q8_0 : type);
for (int l = 0; l < layers; l++)
{
    Vector($"blk.{l}.attn_norm.weight", embd);
    Matrix($"blk.{l}.attn_q.weight", embd, embd, type);
    Matrix($"blk.{l}.attn_k.weight", embd, embd, type);
    Matrix($"blk.{l}.attn_v.weight", embd, embd, type);
    Matrix($"blk.{l}.attn_output.weight", embd, embd, type);
    Vector($"blk.{l}.ffn_norm.weight", embd);
    Matrix($"blk.{l}.ffn_gate.weight", ff, embd, type);
    Matrix($"blk.{l}.ffn_up.weight", ff, embd, type);
    Matrix($"blk.{l}.ffn_down.weight", embd, ff, type);
}
Vector("output_norm.weight", embd);
Matrix("output.weight", vocab, embd, type == GgmlType.TQ2_0 ? GgmlType.Q8_0 : type);
w.Commit(outPath);
Console.WriteLine($"wrote {outPath} ({new FileInfo(outPath).Length} bytes)");
