namespace QuantSharp.Server;

/// <summary>A request the server refuses, answered as an OpenAI-style error object with <see cref="Status"/>.</summary>
internal sealed class ApiException : Exception
{
    public ApiException(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error")
        : base(message)
    {
        Status = status;
        Param = param;
        Code = code;
        Type = type;
    }

    /// <summary>HTTP status.</summary>
    public int Status { get; }

    /// <summary>The request field at fault, if any.</summary>
    public string? Param { get; }

    /// <summary>A machine-readable code (<c>context_length_exceeded</c>, <c>invalid_api_key</c>, …).</summary>
    public string? Code { get; }

    /// <summary>OpenAI's error type (<c>invalid_request_error</c>, <c>server_error</c>, …).</summary>
    public string Type { get; }

    public static ApiException BadRequest(string message, string? param = null, string? code = null) => new(400, message, param, code);
}
