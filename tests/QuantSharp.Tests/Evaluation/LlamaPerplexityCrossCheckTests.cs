using System.Diagnostics;
using System.Globalization;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Tests.Formats.Gguf;

namespace QuantSharp.Tests.Evaluation;

/// <summary>
/// <c>perplexity --protocol llama.cpp</c> against llama.cpp's own <c>llama-perplexity</c>, built natively from the
/// llama.cpp source bundled in node-llama-cpp by <c>bench/llama-cpp/build.sh</c> (or named by
/// <c>$QUANTSHARP_LLAMA_PERPLEXITY</c>), on brown-llama GGUF exports: the same tokens and chunks, f32, q8_0 and q4_0
/// perplexity within 0.1 %, and QuantSharp's next-token distributions close to llama.cpp's logits file.
/// </summary>
public sealed class LlamaPerplexityCrossCheckTests
{
    private const int Context = 128, Chunks = 20;

    private static string? Binary()
    {
        string path = Environment.GetEnvironmentVariable("QUANTSHARP_LLAMA_PERPLEXITY") is { Length: > 0 } p ? p
            : Path.Combine(LlamaCpp.RepoRoot, ".tools", "llama-cpp", "llama-perplexity");
        return File.Exists(path) ? path : null;
    }

    [SkippableTheory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void PerplexityMatchesLlamaPerplexityWithinATenthOfAPercent(GgmlType type)
    {
        string? binary = Binary();
        Skip.If(binary is null, "llama-perplexity not built: run bench/llama-cpp/build.sh (needs cmake and a C++ compiler) or set QUANTSHARP_LLAMA_PERPLEXITY");
        string dir = Path.Combine(Path.GetTempPath(), $"qs-llama-ppl-{Environment.ProcessId}-{type}");
        Directory.CreateDirectory(dir);
        try
        {
            string gguf = Path.Combine(dir, "brown.gguf");
            string text = Path.Combine(TestPaths.BrownLlama, "heldout.txt");
            using (LoadedModel source = ModelLoader.Load(TestPaths.BrownLlama))
            {
                GgufExporter.Export(source, gguf, new GgufExportOptions { Type = type });
            }

            // llama-perplexity writes its logits file synchronously (its log lines, printed by an asynchronous logger, can
            // be lost when the output is a pipe); its perplexity is read back from that file.
            string logits = Path.Combine(dir, "base.kld");
            var psi = new ProcessStartInfo(binary!) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in new[] { "-m", gguf, "-f", text, "-c", Context.ToString(CultureInfo.InvariantCulture), "--chunks", Chunks.ToString(CultureInfo.InvariantCulture), "-t", "2", "-b", Context.ToString(CultureInfo.InvariantCulture), "--kl-divergence-base", logits })
            {
                psi.ArgumentList.Add(a);
            }

            using (Process process = Process.Start(psi)!)
            {
                Task<string> stdout = process.StandardOutput.ReadToEndAsync();
                string stderr = process.StandardError.ReadToEnd();
                process.WaitForExit();
                Assert.True(process.ExitCode == 0 && File.Exists(logits), $"llama-perplexity failed (exit {process.ExitCode}): {stderr[^Math.Min(800, stderr.Length)..]}{stdout.Result}");
            }

            LlamaCppLogitsFile.Contents theirs = LlamaCppLogitsFile.Read(logits);
            using LoadedModel loaded = ModelLoader.Load(gguf);
            var tokenizer = loaded.RequireTokenizer();
            int[] tokens = tokenizer.Encode(File.ReadAllText(text));
            Assert.Equal((Context, Chunks), (theirs.Context, theirs.Chunks));
            Assert.Equal([tokenizer.BosId!.Value, .. tokens[..((Context * Chunks) - 1)]], theirs.Tokens);

            PerplexityResult ours = PerplexityEvaluator.Evaluate(loaded.Model, tokens, tokenizer.BosId!.Value, new PerplexityOptions
            {
                Context = Context, MaxWindows = Chunks, Protocol = PerplexityProtocol.LlamaCpp, AddBos = tokenizer.AddBosByDefault,
            });
            KlDivergenceResult kl = KlDivergenceResult.Evaluate(loaded.Model, theirs, tokenizer.BosId!.Value, tokenizer.AddBosByDefault);
            Assert.Equal(ours.ScoredTokens, kl.Positions);
            Assert.True(Math.Abs((ours.Perplexity / kl.BasePerplexity) - 1) < 0.001, $"{type}: QuantSharp {ours.Perplexity:F4}, llama-perplexity {kl.BasePerplexity:F4}");
            Assert.True(kl.KlMean < 1e-3 && kl.SameTop > 0.98, $"{type}: KL from llama.cpp's logits {kl.KlMean:E2}, same top {kl.SameTop:P1}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
