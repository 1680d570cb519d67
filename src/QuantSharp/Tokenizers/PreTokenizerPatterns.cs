namespace QuantSharp.Tokenizers;

/// <summary>
/// The pre-tokenizer regexes of the byte-level BPE vocabularies in use, by llama.cpp's <c>tokenizer.ggml.pre</c> name.
/// A list is applied stage by stage (each regex splits the pieces of the one before), as llama.cpp does.
/// </summary>
internal static class PreTokenizerPatterns
{
    /// <summary>GPT-2 (also the default of Hugging Face's ByteLevel pre-tokenizer).</summary>
    public const string Gpt2 = RegexSplitter.Gpt2Pattern;

    /// <summary>Llama 3 and GLM-4 (tiktoken <c>pat_str</c>); up to three digits per piece.</summary>
    public const string Llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2/2.5/3: as Llama 3 but one digit per piece.</summary>
    public const string Qwen2 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The regex list for a <c>tokenizer.ggml.pre</c> name, or null when the name is unknown.</summary>
    public static string[]? ForGgufName(string name) => name switch
    {
        "gpt-2" or "phi-2" or "jina-es" or "jina-de" or "mpt" or "olmo" or "jais" => [Gpt2],
        "default" => [@"[\p{P}\$\+<=>\^~\|]+", Gpt2, @"\p{N}+", "[0-9][0-9][0-9]"],
        "llama3" or "llama-bpe" or "llama-v3" or "smaug-bpe" or "dbrx" or "falcon3" or "chatglm-bpe" or "glm4" or "pixtral" => [Llama3],
        "qwen2" or "stablelm2" or "deepseek-r1-qwen" or "megrez" or "hunyuan" => [Qwen2],
        "starcoder" or "refact" or "command-r" or "smollm" or "codeshell" or "exaone" or "minerva-7b" => [@"\p{N}", Gpt2],
        "falcon" => [@"[\p{P}\$\+<=>\^~\|`]+", Gpt2, "[0-9][0-9][0-9]"],
        "deepseek-llm" => DeepseekLlm,
        _ => null,
    };

    // Escaped: the source's character class holds code points that NFC changes (U+1F7D, U+2126 …). Its astral ranges
    // (U+10400… Deseret, U+1E900… Adlam) cannot be written as a .NET class over UTF-16 and are left out.
    private static readonly string[] DeepseekLlm =
    [
        @"[\r\n]",
        @"\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A]+",
        @"\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
        @"\s+$",
        @"[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
        @"\p{N}+",
    ];

    /// <summary>A pre-tokenizer applying <paramref name="patterns"/> stage by stage.</summary>
    public static PreTokenizer Build(IReadOnlyList<string> patterns) => patterns.Count == 1
        ? new RegexSplitter(PreTokenizer.Compile(patterns[0]))
        : new SequencePreTokenizer(patterns.Select(p => (PreTokenizer)new RegexSplitter(PreTokenizer.Compile(p))).ToArray());
}
