#:property TieredCompilationQuickJitForLoops=false
// Load generator for an OpenAI-compatible server (loopback only): C concurrent clients, each sending R streaming
// /v1/completions requests one after another (fixed prompt, ignore_eos so every reply has the same length).
// Reports aggregate generated tokens/s, time to first token and inter-token latency percentiles, and errors.
// One connection per request (Connection: close).
// Usage: dotnet run -c Release bench/server-load/load.cs -- URL [clients,clients,...] [requests] [max_tokens]
using System.Diagnostics;
using System.Net.Http;
using System.Text;
using System.Text.Json;

var url = new Uri(args[0]);
if (!url.IsLoopback)
{
    Console.Error.WriteLine("refusing a non-loopback URL: this benchmark is for a local server");
    return 2;
}

int[] clientCounts = (args.Length > 1 ? args[1] : "1,4,8,16").Split(',').Select(int.Parse).ToArray();
int requests = args.Length > 2 ? int.Parse(args[2]) : 32;
int maxTokens = args.Length > 3 ? int.Parse(args[3]) : 32;
using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromMinutes(10) };
string body = "{\"prompt\": \"Once upon a time, in a small village by the sea, there lived an old fisherman who\", "
    + $"\"max_tokens\": {maxTokens}, \"temperature\": 0, \"ignore_eos\": true, \"stream\": true, \"stream_options\": {{\"include_usage\": true}}}}";

Console.WriteLine($"server {url}, {requests} requests per client, {maxTokens} tokens each, streaming");
Console.WriteLine("clients  tokens/s aggregate  ×1 client  TTFT p50 ms  TTFT p99 ms  ITL p50 ms  ITL p99 ms  errors  wall s");
double single = 0;
foreach (int clients in clientCounts)
{
    var ttft = new List<double>();
    var itl = new List<double>();
    int errors = 0;
    long tokens = 0;
    var wall = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
    {
        for (int r = 0; r < requests; r++)
        {
            try
            {
                (double first, List<double> gaps, int generated) = await OneAsync();
                lock (ttft)
                {
                    ttft.Add(first);
                    itl.AddRange(gaps);
                    tokens += generated;
                }
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref errors);
                Console.Error.WriteLine($"error: {e.Message} {e.InnerException?.Message}");
            }
        }
    }));
    double seconds = wall.Elapsed.TotalSeconds;
    double rate = tokens / seconds;
    if (single == 0)
    {
        single = rate;
    }

    Console.WriteLine($"{clients,7}  {rate,18:F1}  {rate / single,9:F2}  {P(ttft, 50),11:F0}  {P(ttft, 99),11:F0}  {P(itl, 50),10:F1}  {P(itl, 99),10:F1}  {errors,6}  {seconds,6:F1}");
}

return 0;

async Task<(double FirstMs, List<double> GapsMs, int Tokens)> OneAsync()
{
    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };

    // A fresh loopback connection per request, for every server alike: llama-server (cpp-httplib) closes a keep-alive
    // connection after 5 requests, which a pooled client sees as a failed request.
    request.Headers.ConnectionClose = true;
    long start = Stopwatch.GetTimestamp();
    using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    if (!response.IsSuccessStatusCode)
    {
        throw new InvalidOperationException($"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
    double first = -1;
    long last = 0;
    var gaps = new List<double>();
    int generated = 0;
    bool done = false;
    while (await reader.ReadLineAsync() is string line)
    {
        if (!line.StartsWith("data: ", StringComparison.Ordinal))
        {
            continue;
        }

        string data = line[6..];
        if (data == "[DONE]")
        {
            done = true;
            break;
        }

        using var doc = JsonDocument.Parse(data);
        JsonElement root = doc.RootElement;
        if (root.TryGetProperty("usage", out JsonElement usage) && usage.ValueKind == JsonValueKind.Object)
        {
            generated = usage.GetProperty("completion_tokens").GetInt32();
            continue;
        }

        JsonElement choice = root.GetProperty("choices")[0];
        if (choice.GetProperty("text").GetString() is { Length: > 0 })
        {
            long now = Stopwatch.GetTimestamp();
            if (first < 0)
            {
                first = Stopwatch.GetElapsedTime(start, now).TotalMilliseconds;
            }
            else
            {
                gaps.Add(Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
            }

            last = now;
        }
    }

    if (!done || generated != maxTokens)
    {
        throw new InvalidOperationException($"incomplete stream: done={done}, {generated} of {maxTokens} tokens");
    }

    return (first, gaps, generated);
}

static double P(List<double> values, double percentile)
{
    if (values.Count == 0)
    {
        return double.NaN;
    }

    values.Sort();
    return values[Math.Min(values.Count - 1, (int)Math.Ceiling(percentile / 100 * values.Count) - 1)];
}
