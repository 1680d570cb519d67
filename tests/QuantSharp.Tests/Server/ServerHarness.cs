using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using QuantSharp.Models;
using QuantSharp.Server;

namespace QuantSharp.Tests.Server;

/// <summary>A started <see cref="OpenAiServer"/> on a free loopback port, with an HTTP client pointed at it.</summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    public const string Template = "mistralai-Mistral-Nemo-Instruct-2407.jinja";

    private ServerHarness(OpenAiServer server, LoadedModel loaded, bool ownsModel)
    {
        Server = server;
        Loaded = loaded;
        OwnsModel = ownsModel;
        Http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(2) };
    }

    public OpenAiServer Server { get; }

    public LoadedModel Loaded { get; }

    public HttpClient Http { get; }

    public Uri V1 => new(Server.Address, "/v1");

    private bool OwnsModel { get; }

    public static string TemplateSource => File.ReadAllText(TestPaths.Data(Path.Combine("chat-templates", Template)));

    public static Task<ServerHarness> StartAsync(ServerOptions? options = null, string? model = null)
        => StartAsync(ModelLoader.Load(model ?? TestPaths.BrownLlama), options, ownsModel: true);

    public static async Task<ServerHarness> StartAsync(LoadedModel loaded, ServerOptions? options, bool ownsModel = false)
    {
        options ??= new ServerOptions();
        options = options with { Port = 0, Log = null, ChatTemplate = options.ChatTemplate ?? (loaded.Model.Spec.IsEncoder ? null : TemplateSource), ContextLength = options.ContextLength > 0 ? options.ContextLength : 256 };
        OpenAiServer server = OpenAiServer.Create(loaded, options);
        await server.StartAsync();
        return new ServerHarness(server, loaded, ownsModel);
    }

    public async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostAsync(string path, string json, string? apiKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (apiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        HttpResponseMessage response = await Http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(text);
        return ((int)response.StatusCode, doc.RootElement.Clone(), response);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        if (OwnsModel)
        {
            Loaded.Dispose();
        }
    }
}
