using QuantSharp.Tokenizers;
using QuantSharp.Formats;

namespace QuantSharp.Tests.Tokenizers;

public class SentencePieceTokenizerTests
{
    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Load().Count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    private static List<(string Text, int[] Ids)> Load()
    {
        string[] inputs = File.ReadAllText(TestPaths.Data("tokenizer-tests/llama-spm.inp")).Split("\n__ggml_vocab_test__\n");
        string[] outputs = File.ReadAllText(TestPaths.Data("tokenizer-tests/llama-spm.out")).Split('\n');
        var cases = new List<(string, int[])>();
        for (int i = 0; i < inputs.Length - 1; i++)
        {
            cases.Add((inputs[i], outputs[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()));
        }

        return cases;
    }

    private static readonly Lazy<SentencePieceBpeTokenizer> s_llama2 = new(() => SentencePieceBpeTokenizer.Load(TestPaths.Model("llama2-tokenizer/tokenizer.model")));

    [Theory]
    [MemberData(nameof(Cases))]
    public void Llama2TokenizerReproducesLlamaCppVectors(int index)
    {
        (string text, int[] ids) = Load()[index];
        Assert.Equal(ids, s_llama2.Value.Encode(text));
    }

    [Fact]
    public void Stories260KTokenizerMatchesReferenceExamples()
    {
        var tok = SentencePieceBpeTokenizer.Load(Path.Combine(TestPaths.Stories260K, "tokenizer.model"));
        Assert.Equal([403, 407, 261, 378], tok.Encode("Once upon a time"));
        Assert.Equal([317, 394, 261, 370, 432, 352, 266, 268, 388, 426], tok.Encode("Lily saw a big, red ball."));
        Assert.Equal([346, 306, 414, 263, 304, 341, 443], tok.Encode("Hello world!"));
        Assert.Equal("Hello world!", tok.Decode(tok.Encode("Hello world!")));
    }
}
