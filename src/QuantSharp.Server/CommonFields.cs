using QuantSharp.Models;
using QuantSharp.Serving;
using QuantSharp.Tokenizers;

namespace QuantSharp.Server;

/// <summary>The request fields chat and text completions share: token limit, streaming, sampling, <c>n</c>.</summary>
internal static class CommonFields
{
    public static (int? MaxTokens, bool Stream, bool IncludeUsage) Read(RequestBody body, bool chat)
    {
        long? n = body.Integer("n", 1, 128);
        if (n is > 1)
        {
            throw ApiException.BadRequest("only n = 1 is supported", "n");
        }

        long? maxTokens = body.Integer("max_completion_tokens", 1, int.MaxValue) ?? body.Integer("max_tokens", 1, int.MaxValue);
        bool stream = body.Bool("stream") ?? false;
        bool includeUsage = false;
        if (body.Element("stream_options") is System.Text.Json.JsonElement options)
        {
            if (options.ValueKind != System.Text.Json.JsonValueKind.Object)
            {
                throw ApiException.BadRequest("'stream_options' must be an object", "stream_options");
            }

            includeUsage = new RequestBody(options).Bool("include_usage") ?? false;
        }

        // The legacy completions endpoint defaults to 16 tokens, as OpenAI's does; chat runs to the end of the context.
        return ((int?)maxTokens ?? (chat ? null : 16), stream, includeUsage);
    }

    /// <summary>Sampling from <c>temperature</c>, <c>top_p</c>, <c>top_k</c> and <c>seed</c>; a token limit that cannot fit
    /// in the context with the prompt is a 400, as OpenAI answers it.</summary>
    public static SamplingOptions Sampling(RequestBody body, GenerationEngine engine, Tokenizer tokenizer, int promptTokens, int? maxTokens, string promptField)
    {
        if (promptTokens >= engine.ContextLength)
        {
            throw ApiException.BadRequest($"the prompt has {promptTokens} tokens; this server's context window is {engine.ContextLength} tokens", promptField, "context_length_exceeded");
        }

        if (maxTokens is int m && (long)promptTokens + m > engine.ContextLength)
        {
            throw ApiException.BadRequest($"the context window is {engine.ContextLength} tokens, but {promptTokens + (long)m} were requested ({promptTokens} in the prompt, {m} for the completion); lower max_tokens", "max_tokens", "context_length_exceeded");
        }

        float? temperature = body.Number("temperature", 0, 2);
        float? topP = body.Number("top_p", 0, 1);
        long? topK = body.Integer("top_k", 0, int.MaxValue);
        long? seed = body.Integer("seed", long.MinValue, long.MaxValue);
        body.Number("presence_penalty", -2, 2);
        body.Number("frequency_penalty", -2, 2);
        SamplingOptions sampling = ChatRequest.Sampling(engine, tokenizer, promptTokens, maxTokens, temperature, topP is 0 ? 1e-6f : topP, (int?)topK, seed);

        // llama.cpp's server extension: keep generating past end-of-sequence (benchmarks that need fixed lengths).
        return body.Bool("ignore_eos") == true ? new SamplingOptions
        {
            MaxTokens = sampling.MaxTokens, Temperature = sampling.Temperature, TopP = sampling.TopP, TopK = sampling.TopK, Seed = sampling.Seed, StopAtEos = false,
        } : sampling;
    }
}
