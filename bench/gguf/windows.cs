#:project ../../src/QuantSharp/QuantSharp.csproj
using QuantSharp.Models;

// Writes the perplexity windows QuantSharp's `perplexity --ctx C --max-windows W` scores, as token ids for llama.cpp:
// the text tokenized as one string, cut into spans of C − 1 tokens, each window [BOS] + span.
//   dotnet run windows.cs -- <model> <text file> <ctx> <windows> <out.json>
using LoadedModel m = ModelLoader.Load(args[0]);
var tok = m.RequireTokenizer();
int ctx = int.Parse(args[2]), count = int.Parse(args[3]);
var ids = tok.Encode(File.ReadAllText(args[1]));
var windows = Enumerable.Range(0, count).Select(w => new[] { tok.BosId!.Value }.Concat(ids.Skip(w * (ctx - 1)).Take(ctx - 1)).ToArray()).ToArray();
File.WriteAllText(args[4], "[" + string.Join(",", windows.Select(w => "[" + string.Join(",", w) + "]")) + "]");
