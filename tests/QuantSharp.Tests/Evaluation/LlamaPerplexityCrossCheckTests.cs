using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using QuantSharp.Evaluation;
using QuantSharp.Formats.Gguf;
using QuantSharp.Models;
using QuantSharp.Tests.Formats.Gguf;

namespace QuantSharp.Tests.Evaluation;

/// <summary>
/// <c>perplexity --protocol llama.cpp</c> against llama.cpp's own <c>llama-perplexity</c>, built natively from the
/// llama.cpp source bundled in node-llama-cpp by <c>bench/llama-cpp/build-llama-perplexity.sh</c> (or named by
/// <c>$QUANTSHARP_LLAMA_PERPLEXITY</c>), on brown-llama GGUF exports: f32, q8_0 and q4_0 within 0.1 %.
/// </summary>
public sealed partial class LlamaPerplexityCrossCheckTests
{
    private const int Context = 128, Chunks = 20;

    private static string? Binary()
    {
        string path = Environment.GetEnvironmentVariable("QUANTSHARP_LLAMA_PERPLEXITY") is { Length: > 0 } p ? p
            : Path.Combine(LlamaCpp.RepoRoot, ".tools", "llama-perplexity", "llama-perplexity");
        return File.Exists(path) ? path : null;
    }

    [SkippableTheory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void PerplexityMatchesLlamaPerplexityWithinATenthOfAPercent(GgmlType type)
    {
        string? binary = Binary();
        Skip.If(binary is null, "llama-perplexity not built: run bench/llama-cpp/build-llama-perplexity.sh (needs cmake and a C++ compiler) or set QUANTSHARP_LLAMA_PERPLEXITY");
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

            var psi = new ProcessStartInfo(binary!) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in new[] { "-m", gguf, "-f", text, "-c", Context.ToString(CultureInfo.InvariantCulture), "--chunks", Chunks.ToString(CultureInfo.InvariantCulture), "-t", "2", "-b", Context.ToString(CultureInfo.InvariantCulture) })
            {
                psi.ArgumentList.Add(a);
            }

            using Process process = Process.Start(psi)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Match m = FinalEstimate().Match(stderr + stdout.Result);
            Assert.True(m.Success, $"llama-perplexity printed no final estimate (exit {process.ExitCode}): {stderr[^Math.Min(800, stderr.Length)..]}");
            double theirs = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);

            using LoadedModel loaded = ModelLoader.Load(gguf);
            var tokenizer = loaded.RequireTokenizer();
            PerplexityResult ours = PerplexityEvaluator.Evaluate(loaded.Model, tokenizer.Encode(File.ReadAllText(text)), tokenizer.BosId!.Value, new PerplexityOptions
            {
                Context = Context, MaxWindows = Chunks, Protocol = PerplexityProtocol.LlamaCpp, AddBos = tokenizer.AddBosByDefault,
            });
            Assert.True(Math.Abs((ours.Perplexity / theirs) - 1) < 0.001, $"{type}: QuantSharp {ours.Perplexity:F4}, llama-perplexity {theirs:F4}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [GeneratedRegex(@"Final estimate: PPL = ([0-9.]+)")]
    private static partial Regex FinalEstimate();
}
