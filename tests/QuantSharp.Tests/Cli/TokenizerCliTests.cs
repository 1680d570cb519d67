using System.Text.Json;
using QuantSharp.Tokenizers;

namespace QuantSharp.Tests.Cli;

/// <summary>The tokenizer and chat verbs end to end: tokenize, template, generate --chat, chat.</summary>
public class TokenizerCliTests
{
    private static string Vocab(string name) => TestPaths.Model("tokenizers/llama-cpp-vocab/" + name);

    [Theory]
    [InlineData("ggml-vocab-phi-3.gguf")]
    [InlineData("ggml-vocab-bert-bge.gguf")]
    [InlineData("ggml-vocab-deepseek-llm.gguf")]
    public void TokenizeInpPrintsTheOutFileOfAVocabOnlyGguf(string gguf)
    {
        var (code, stdout, stderr) = CliRunner.Run("tokenize", Vocab(gguf), "--file", Vocab(gguf + ".inp"), "--inp");
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllText(Vocab(gguf + ".out")), stdout);
    }

    [Fact]
    public void TokenizeJsonGivesIdsPiecesAndKeepsSpecialTextUnlessAsked()
    {
        string folder = TestPaths.Model("tokenizers/llama3");
        JsonElement plain = CliRunner.LastJson(CliRunner.Run("tokenize", folder, "--text", "Hi<|eot_id|>", "--json").Stdout);
        Assert.DoesNotContain(128009, plain.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        JsonElement special = CliRunner.LastJson(CliRunner.Run("tokenize", folder, "--text", "Hi<|eot_id|>", "--json", "--special", "--bos").Stdout);
        Assert.Equal([128000, 13347, 128009], special.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(["<|begin_of_text|>", "Hi", "<|eot_id|>"], special.GetProperty("pieces").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public void TokenizeWithoutTextIsExitCode2()
    {
        var (code, _, stderr) = CliRunner.Run("tokenize", TestPaths.Model("tokenizers/qwen2"));
        Assert.Equal(2, code);
        Assert.Contains("--text or --file", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void TemplateRendersExactlyWithoutATrailingNewline()
    {
        using var dir = new TempDir();
        string messages = dir.File("m.json");
        File.WriteAllText(messages, """[{"role": "user", "content": "你好"}]""");
        var (code, stdout, stderr) = CliRunner.Run("template", TestPaths.Model("tokenizers/glm4"), "--messages", messages, "--add-generation-prompt");
        Assert.True(code == 0, stderr);
        Assert.Equal("[gMASK]<sop><|user|>\n你好<|assistant|>", stdout);
        var (code2, stdout2, _) = CliRunner.Run("template", TestPaths.Data("chat-templates/google-gemma-2-2b-it.jinja"), "--messages", messages,
            "--add-generation-prompt", "--bos-token", "<bos>");
        Assert.Equal(0, code2);
        Assert.Equal("<bos><start_of_turn>user\n你好<end_of_turn>\n<start_of_turn>model\n", stdout2);
    }

    [Fact]
    public void TemplateRaiseExceptionIsOneLineExitCode2()
    {
        using var dir = new TempDir();
        string messages = dir.File("m.json");
        File.WriteAllText(messages, """[{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]""");
        var (code, _, stderr) = CliRunner.Run("template", TestPaths.Data("chat-templates/google-gemma-2-2b-it.jinja"), "--messages", messages);
        Assert.Equal(2, code);
        Assert.Contains("System role not supported", stderr, StringComparison.Ordinal);
    }

    /// <summary>stories260K (a real model, SentencePiece) with a chat template added, as a chat checkpoint.</summary>
    private static TempDir ChatModel()
    {
        var dir = new TempDir();
        foreach (string f in Directory.GetFiles(TestPaths.Stories260K))
        {
            File.Copy(f, dir.File(Path.GetFileName(f)));
        }

        File.WriteAllText(dir.File("tokenizer_config.json"), """
            {"bos_token": "<s>", "eos_token": "</s>", "chat_template": "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] + ' ' }}{% else %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}"}
            """);
        return dir;
    }

    [Fact]
    public void GenerateChatFeedsTheTemplatedPrompt()
    {
        using TempDir model = ChatModel();
        var (code, stdout, stderr) = CliRunner.Run("generate", model.Path, "--chat", "Once upon a time", "--system", "Story.", "-n", "8", "--json");
        Assert.True(code == 0, stderr);
        JsonElement result = CliRunner.LastJson(stdout);
        Tokenizer tokenizer = TokenizerLoader.Load(model.Path);
        int[] expected = ChatFormatter.For(tokenizer).Format([("system", "Story."), ("user", "Once upon a time")]).Ids;
        Assert.Equal(expected, result.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(tokenizer.BosId, expected[0]);
        Assert.Equal(expected[1..], tokenizer.Encode("Story. user: Once upon a time\nassistant:"));
    }

    [Fact]
    public void ChatAnswersEachLineResetsAndExits()
    {
        using TempDir model = ChatModel();
        var (code, stdout, stderr) = CliRunner.RunWithInput("Once upon a time\n/reset\nLily saw a big ball\n/exit\n",
            "chat", model.Path, "--temperature", "0", "-n", "12");
        Assert.True(code == 0, stderr);
        Assert.Contains("conversation cleared", stderr, StringComparison.Ordinal);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(stderr, "prompt tokens"));
    }

    [Fact]
    public void ChatDropsOldTurnsToStayInTheContext()
    {
        using TempDir model = ChatModel();
        ChatFormatter formatter = ChatFormatter.For(TokenizerLoader.Load(model.Path));
        var history = new List<(string, string)> { ("user", "one two three"), ("assistant", "four five"), ("user", "six") };
        int full = formatter.Format(history).Ids.Length;
        int[]? fitted = QuantSharp.Cli.ChatCommand.Fit(formatter, null, history, full - 1);
        Assert.NotNull(fitted);
        Assert.Single(history);
        Assert.Null(QuantSharp.Cli.ChatCommand.Fit(formatter, null, [("user", "a long message that cannot fit")], 3));
    }
}
