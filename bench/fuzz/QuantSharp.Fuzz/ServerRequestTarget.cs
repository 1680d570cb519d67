using Microsoft.AspNetCore.Http;
using QuantSharp.Models;
using QuantSharp.Server;

namespace QuantSharp.Fuzz;

/// <summary>
/// The server's request handling without sockets: the input's first byte picks the endpoint, the rest is the body, and
/// the endpoint runs against stories260K (with a small chat template) exactly as Kestrel would call it. A 4xx answer is
/// a clean refusal; an exception the server would turn into a 500, or a streamed <c>server_error</c>, is a bug.
/// </summary>
internal static class ServerRequestTarget
{
    private const string Template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

    private static readonly Lazy<ServedModel> s_served = new(() =>
    {
        LoadedModel loaded = ModelLoader.Load(Path.Combine(FuzzSeeds.Shared, "models", "stories260K", "hf"));
        return new ServedModel(loaded, new ServerOptions { Parallel = 1, ContextLength = 128, ChatTemplate = Template, Log = null });
    });

    public static void Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return;
        }

        ServedModel served = s_served.Value;
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.ContentType = "application/json";
        context.Request.Body = new MemoryStream(input, 1, input.Length - 1, writable: false);
        var response = new MemoryStream();
        context.Response.Body = response;
        Task handler = (input[0] % 3) switch
        {
            0 => ChatCompletionsEndpoint.HandleAsync(context, served),
            1 => CompletionsEndpoint.HandleAsync(context, served),
            _ => EmbeddingsEndpoint.HandleAsync(context, served),
        };
        try
        {
            handler.GetAwaiter().GetResult();
        }
        catch (ApiException e) when (e.Status < 500)
        {
            return;
        }

        string body = System.Text.Encoding.UTF8.GetString(response.ToArray());
        if (body.Contains("\"server_error\"", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"the server answered with a server error: {body[..Math.Min(body.Length, 400)]}");
        }
    }
}
