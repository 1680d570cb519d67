using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace QuantSharp.Formats;

/// <summary>A SentencePiece <c>tokenizer.model</c> (Llama style) through Microsoft.ML.Tokenizers, with BOS handling
/// from <c>tokenizer_config.json</c>.</summary>
public sealed class SentencePieceTextTokenizer : ITextTokenizer
{
    private readonly SentencePieceTokenizer _tokenizer;

    private SentencePieceTextTokenizer(SentencePieceTokenizer tokenizer, bool addBos)
    {
        _tokenizer = tokenizer;
        AddBosByDefault = addBos;
    }

    /// <inheritdoc />
    public int? BosId => _tokenizer.BeginningOfSentenceId;

    /// <inheritdoc />
    public int? EosId => _tokenizer.EndOfSentenceId;

    /// <inheritdoc />
    public bool AddBosByDefault { get; }

    /// <summary>Loads <paramref name="modelPath"/>; reads <c>add_bos_token</c> from <paramref name="tokenizerConfigPath"/> if it exists (default true).</summary>
    /// <exception cref="QuantSharpException">The file is not a SentencePiece model.</exception>
    public static SentencePieceTextTokenizer Load(string modelPath, string? tokenizerConfigPath = null)
    {
        bool addBos = true;
        if (tokenizerConfigPath is not null && File.Exists(tokenizerConfigPath))
        {
            try
            {
                using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(tokenizerConfigPath));
                if (doc.RootElement.TryGetProperty("add_bos_token", out JsonElement e) && (e.ValueKind is JsonValueKind.True or JsonValueKind.False))
                {
                    addBos = e.GetBoolean();
                }
            }
            catch (JsonException ex)
            {
                throw new QuantSharpException($"{tokenizerConfigPath}: not valid JSON ({ex.Message})", ex);
            }
        }

        try
        {
            using FileStream stream = File.OpenRead(modelPath);
            LlamaTokenizer tokenizer = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
            return new SentencePieceTextTokenizer(tokenizer, addBos);
        }
        catch (Exception e) when (e is not QuantSharpException and not FileNotFoundException)
        {
            throw new QuantSharpException($"{modelPath}: not a SentencePiece tokenizer model ({e.Message})", e);
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text)
        => _tokenizer.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: true, considerNormalization: true);

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids, considerSpecialTokens: false);
}
