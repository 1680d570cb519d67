using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace QuantSharp.Tests.Cli;

/// <summary><c>quantsharp serve</c> as a process: it prints its address, serves, and on SIGTERM lets an in-flight stream
/// finish before exiting 0.</summary>
public class ServeCommandTests
{
    [SkippableFact]
    public async Task ServesAndShutsDownGracefullyOnSigterm()
    {
        Skip.If(OperatingSystem.IsWindows(), "SIGTERM is POSIX");
        string template = TestPaths.Data(Path.Combine("chat-templates", "mistralai-Mistral-Nemo-Instruct-2407.jinja"));
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in new[] { Path.Combine(AppContext.BaseDirectory, "QuantSharp.Cli.dll"), "serve", TestPaths.BrownLlama, "--port", "0", "--template", template, "--ctx", "256" })
        {
            psi.ArgumentList.Add(a);
        }

        using Process process = Process.Start(psi)!;
        var log = new StringBuilder();
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                address.TrySetException(new InvalidOperationException($"serve exited early: {log}"));
                return;
            }

            lock (log)
            {
                log.AppendLine(e.Data);
            }

            Match m = Regex.Match(e.Data, @"on (http://127\.0\.0\.1:\d+)/?;");
            if (m.Success)
            {
                address.TrySetResult(m.Groups[1].Value);
            }
        };
        process.BeginErrorReadLine();
        try
        {
            string url = await address.Task.WaitAsync(TimeSpan.FromMinutes(1));
            using var http = new HttpClient { BaseAddress = new Uri(url) };
            Assert.Equal("{\"status\":\"ok\"}", await http.GetStringAsync("/health"));

            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent("{\"messages\": [{\"role\": \"user\", \"content\": \"The jury\"}], \"max_tokens\": 200, \"ignore_eos\": true, \"stream\": true}", Encoding.UTF8, "application/json"),
            };
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await reader.ReadLineAsync());

            using (Process kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            string rest = await reader.ReadToEndAsync();
            Assert.Contains("\"finish_reason\":\"length\"", rest);
            Assert.EndsWith("data: [DONE]\n\n", rest);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, process.ExitCode);
            lock (log)
            {
                Assert.Contains("POST /v1/chat/completions 200 prompt=", log.ToString());
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
