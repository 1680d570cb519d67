using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace QuantSharp.Server;

/// <summary>Reads a request body as JSON: a body over the size limit is a 413, malformed JSON a 400, and so is a string
/// that is not valid Unicode (invalid UTF-8 bytes or an unpaired surrogate escape), which System.Text.Json only notices
/// when the string is read — so every string is read once here, and the endpoints never meet one.</summary>
internal static class RequestReader
{
    public static async Task<JsonDocument> ReadAsync(HttpContext context)
    {
        if (context.Request.ContentType is string type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiException(415, $"the body must be application/json, not {type}");
        }

        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(context.Request.Body, new JsonDocumentOptions { MaxDepth = 64 }, context.RequestAborted);
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"the body is not valid JSON: {e.Message}");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new ApiException(413, $"the request body is larger than this server accepts ({e.Message})");
        }

        try
        {
            ReadStrings(document.RootElement);
            return document;
        }
        catch (InvalidOperationException e)
        {
            document.Dispose();
            throw ApiException.BadRequest($"the body holds a string that is not valid Unicode ({e.Message})");
        }
    }

    private static void ReadStrings(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                _ = element.GetString();
                break;
            case JsonValueKind.Array:
                foreach (JsonElement item in element.EnumerateArray())
                {
                    ReadStrings(item);
                }

                break;
            case JsonValueKind.Object:
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    _ = property.Name;
                    ReadStrings(property.Value);
                }

                break;
        }
    }
}
