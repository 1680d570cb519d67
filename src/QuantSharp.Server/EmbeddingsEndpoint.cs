using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;

namespace QuantSharp.Server;

/// <summary><c>POST /v1/embeddings</c>: sentence embeddings of an encoder checkpoint, or a decoder's pooled hidden state,
/// for a string or an array of strings; <c>encoding_format</c> <c>float</c> (default) or <c>base64</c> (little-endian
/// float32, what the OpenAI .NET client asks for).</summary>
internal static class EmbeddingsEndpoint
{
    private const int MaxInputs = 2048;

    public static async Task HandleAsync(HttpContext context, ServedModel served)
    {
        using JsonDocument document = await RequestReader.ReadAsync(context);
        var body = new RequestBody(document.RootElement);
        served.RequireTokenizer();
        string[] inputs = Inputs(body);
        string format = body.String("encoding_format") ?? "float";
        if (format is not ("float" or "base64"))
        {
            throw ApiException.BadRequest($"'encoding_format' must be 'float' or 'base64', not '{format}'", "encoding_format");
        }

        long? dimensions = body.Integer("dimensions", 1, int.MaxValue);
        if (dimensions is long d && d != served.Embeddings.Dimension)
        {
            throw ApiException.BadRequest($"this model's embeddings have {served.Embeddings.Dimension} dimensions; 'dimensions' cannot change that", "dimensions");
        }

        GeneratedEmbeddings<Embedding<float>> embeddings;
        try
        {
            embeddings = await served.Embeddings.GenerateAsync(inputs, cancellationToken: context.RequestAborted);
        }
        catch (QuantSharpException e)
        {
            throw ApiException.BadRequest(e.Message, "input");
        }

        foreach (Embedding<float> e in embeddings)
        {
            if (!System.Numerics.Tensors.TensorPrimitives.IsFiniteAll(e.Vector.Span))
            {
                throw new ApiException(500, "the model produced a non-finite embedding (NaN or infinity); its weights or quantization are broken", type: "server_error");
            }
        }

        int tokens = (int)(embeddings.Usage?.InputTokenCount ?? 0);
        context.Items[RequestLog.PromptTokensKey] = tokens;
        await JsonResponse.WriteAsync(context, 200, w =>
        {
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            for (int i = 0; i < embeddings.Count; i++)
            {
                w.WriteStartObject();
                w.WriteString("object", "embedding");
                w.WriteNumber("index", i);
                ReadOnlySpan<float> vector = embeddings[i].Vector.Span;
                if (format == "base64")
                {
                    w.WriteBase64String("embedding", MemoryMarshal.AsBytes(vector));
                }
                else
                {
                    w.WriteStartArray("embedding");
                    foreach (float v in vector)
                    {
                        w.WriteNumberValue(v);
                    }

                    w.WriteEndArray();
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteString("model", served.Id);
            w.WriteStartObject("usage");
            w.WriteNumber("prompt_tokens", tokens);
            w.WriteNumber("total_tokens", tokens);
            w.WriteEndObject();
        });
    }

    private static string[] Inputs(RequestBody body)
    {
        JsonElement input = body.Element("input") ?? throw ApiException.BadRequest("'input' is required", "input");
        if (input.ValueKind == JsonValueKind.String)
        {
            return [input.GetString()!];
        }

        if (input.ValueKind != JsonValueKind.Array || input.GetArrayLength() == 0 || input.GetArrayLength() > MaxInputs
            || input.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            throw ApiException.BadRequest($"'input' must be a string or an array of 1 to {MaxInputs} strings", "input");
        }

        return [.. input.EnumerateArray().Select(e => e.GetString()!)];
    }
}
