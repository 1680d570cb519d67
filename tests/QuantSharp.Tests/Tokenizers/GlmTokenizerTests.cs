using System.Text.Json;
using QuantSharp.Tokenizers;

namespace QuantSharp.Tests.Tokenizers;

/// <summary>ChatGLM3 (SentencePiece + nine appended specials, <c>[gMASK] sop</c> prefix) against the 37 reference vectors of
/// transformers' own ChatGLMTokenizer, and GLM-4 (tiktoken, <c>[gMASK] &lt;sop&gt;</c>) against its README's cases.</summary>
public class GlmTokenizerTests
{
    private static readonly Lazy<Tokenizer> s_chatGlm3 = new(() => TokenizerLoader.Load(TestPaths.Model("chatglm3-tokenizer")));
    private static readonly Lazy<Tokenizer> s_glm4 = new(() => TokenizerLoader.Load(TestPaths.Model("tokenizers/glm4")));

    private static List<(string Input, int[] Ids, string[] Tokens, string Decoded)> ChatGlm3Cases()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Model("chatglm3-tokenizer"), "test-vectors.json")));
        return doc.RootElement.GetProperty("datasets").EnumerateArray().Select(e => (
            e.GetProperty("input").GetString()!,
            e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            e.GetProperty("tokens").EnumerateArray().Select(x => x.GetString()!).ToArray(),
            e.GetProperty("decoded").GetString()!)).ToList();
    }

    public static TheoryData<int> ChatGlm3Indices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < ChatGlm3Cases().Count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Fact]
    public void ChatGlm3HasThirtySevenCases() => Assert.Equal(37, ChatGlm3Cases().Count);

    [Theory]
    [MemberData(nameof(ChatGlm3Indices))]
    public void ChatGlm3MatchesReference(int index)
    {
        var c = ChatGlm3Cases()[index];
        Tokenizer t = s_chatGlm3.Value;
        int[] ids = t.Encode(c.Input, addSpecialTokens: true);
        Assert.Equal(c.Ids, ids);
        Assert.Equal(c.Tokens, ids.Skip(2).Select(id => t.TokenToString(id)!).ToArray());
        Assert.Equal(c.Decoded, t.Decode(ids));
    }

    [Fact]
    public void ChatGlm3SpecialTokensAndEnds()
    {
        Tokenizer t = s_chatGlm3.Value;
        Assert.Equal(64798, t.VocabSize);
        Assert.Equal([64790, 64792], t.Prefix);
        Assert.Equal(64795, t.TokenToId("<|user|>"));
        Assert.Equal(2, t.EosId);
        Assert.Contains(64795, t.EosIds);
        Assert.Contains(64797, t.EosIds);
        Assert.Equal([64790, 64792, 36474, 54591], t.Encode("你好", addSpecialTokens: true));
        // Role tokens typed by a user stay text; asked for explicitly they are parsed.
        Assert.DoesNotContain(64795, t.Encode("<|user|>hi"));
        Assert.Equal(64795, t.Encode("<|user|>hi", addSpecialTokens: false, parseSpecialTokens: true)[0]);
    }

    [Fact]
    public void Glm4MatchesReadmeCases()
    {
        Tokenizer t = s_glm4.Value;
        Assert.Equal([151331, 151333, 2082, 7703, 8499, 25, 825, 11, 1378, 11, 2326, 13], t.Encode("An increasing sequence: one, two, three.", addSpecialTokens: true));
        Assert.Equal([151331, 151333, 109377], t.Encode("你好", addSpecialTokens: true));
        Assert.Equal([151331, 151333, 151336, 198, 109377, 151337],
            t.Encode("[gMASK]<sop><|user|>\n你好<|assistant|>", addSpecialTokens: false, parseSpecialTokens: true));
        Assert.Equal(PaddingSide.Left, t.PaddingSide);
        Assert.Equal([151329, 151336, 151338], t.EosIds);
        Assert.Equal("An increasing sequence: one, two, three.", t.Decode(t.Encode("An increasing sequence: one, two, three.", addSpecialTokens: true)));
    }

    [Fact]
    public void Llama3ReferenceWithBosAndEos()
    {
        Tokenizer t = TokenizerLoader.Load(TestPaths.Model("tokenizers/llama3"));
        int[] ids = t.Encode("This is a test sentence.", addSpecialTokens: true);
        Assert.Equal([128000, 2028, 374, 264, 1296, 11914, 13, 128001], [.. ids, t.TokenToId("<|end_of_text|>")!.Value]);
        Assert.Equal(128009, t.EosId);
        Assert.Contains(128001, t.EosIds);
        Assert.Contains(128008, t.EosIds);
        Assert.NotNull(t.ChatTemplate);
    }

    [Theory]
    [InlineData("tokenizers/llama3", "<|eot_id|>")]
    [InlineData("tokenizers/qwen2", "<|im_end|>")]
    [InlineData("tokenizers/glm4", "<|user|>")]
    [InlineData("tokenizers/gpt2-json", "<|endoftext|>")]
    public void SpecialTokenTextInUserInputStaysText(string folder, string special)
    {
        Tokenizer t = TokenizerLoader.Load(TestPaths.Model(folder));
        int id = t.TokenToId(special)!.Value;
        string text = $"ignore this {special} and go on";
        int[] plain = t.Encode(text);
        Assert.DoesNotContain(id, plain);
        Assert.Equal(text, t.Decode(plain));
        Assert.Contains(id, t.Encode(text, addSpecialTokens: false, parseSpecialTokens: true));
        Assert.Equal(text.Replace(special, "", StringComparison.Ordinal), t.Decode(t.Encode(text, false, parseSpecialTokens: true)));
        Assert.Equal(text, t.Decode(t.Encode(text, false, parseSpecialTokens: true), skipSpecialTokens: false));
    }

    [Fact]
    public void StreamingHoldsBackSplitCharacters()
    {
        // "🦙" is four UTF-8 bytes; byte-fallback SentencePiece emits them as four tokens.
        Tokenizer t = s_chatGlm3.Value;
        int[] ids = t.Encode("a🦙b");
        TokenStreamDecoder stream = t.CreateStreamDecoder();
        var pieces = ids.Select(stream.Push).ToList();
        Assert.Equal("a🦙b", string.Concat(pieces) + stream.Flush());
        Assert.Contains(pieces, p => p.Length == 0);
        Assert.All(pieces, p => Assert.DoesNotContain('\uFFFD', p));
    }
}
