using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace QuantSharp.Server;

/// <summary>Reads a request body as JSON: a body over the size limit is a 413, malformed JSON a 400.</summary>
internal static class RequestReader
{
    public static async Task<JsonDocument> ReadAsync(HttpContext context)
    {
        if (context.Request.ContentType is string type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(415, $"the body must be application/json, not {type}");
        }

        try
        {
            return await JsonDocument.ParseAsync(context.Request.Body, new JsonDocumentOptions { MaxDepth = 64 }, context.RequestAborted);
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"the body is not valid JSON: {e.Message}");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new ApiException(413, $"the request body is larger than this server accepts ({e.Message})");
        }
    }
}
