using System.Text.Json.Nodes;
using QuantSharp.Templates;

namespace QuantSharp.Tests.Templates;

/// <summary>
/// Every (template, conversation) of ../shared/data/chat-templates/expected.json, rendered byte for byte as Jinja2
/// renders it in Hugging Face's apply_chat_template, errors included; plus the public API's contract.
/// </summary>
public class ChatTemplateTests
{
    private static readonly Lazy<JsonObject> s_expected = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.ChatTemplates, "expected.json")))!.AsObject());

    public static TheoryData<string, string> ReferenceCases
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach ((string template, JsonNode? cases) in s_expected.Value["expected"]!.AsObject())
            {
                foreach ((string caseName, _) in cases!.AsObject())
                {
                    data.Add(template, caseName);
                }
            }

            return data;
        }
    }

    [Fact]
    public void ReferenceDataHasAllSevenTemplatesAndFiveCases()
    {
        Assert.Equal(35, ReferenceCases.Count);
    }

    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void RendersReferenceCaseExactly(string template, string caseName)
    {
        JsonObject root = s_expected.Value;
        JsonObject conversation = root["cases"]![caseName]!.AsObject();
        JsonNode tokens = root["special_tokens"]![template]!;
        string path = Path.Combine(TestPaths.ChatTemplates, template + ".jinja");
        ChatTemplate chat = ChatTemplate.Parse(File.ReadAllText(path), Path.GetFileName(path));
        var input = new ChatTemplateInput
        {
            Messages = conversation["messages"]!.DeepClone().AsArray(),
            Tools = conversation["tools"]?.DeepClone().AsArray(),
            AddGenerationPrompt = conversation["add_generation_prompt"]!.GetValue<bool>(),
            BosToken = tokens["bos_token"]?.GetValue<string>(),
            EosToken = tokens["eos_token"]?.GetValue<string>(),
            Now = new DateTime(2026, 12, 6),
        };

        JsonNode expected = root["expected"]![template]![caseName]!;
        if (expected is JsonObject error)
        {
            var e = Assert.Throws<ChatTemplateException>(() => chat.Render(input));
            Assert.True(e.RaisedByTemplate);
            Assert.Equal(error["error"]!.GetValue<string>(), e.Message);
        }
        else
        {
            Assert.Equal(expected.GetValue<string>(), chat.Render(input));
        }
    }

    [Fact]
    public void SourceIsKeptAsGiven()
    {
        const string source = "{{ messages[0].content }}\n";
        Assert.Equal(source, ChatTemplate.Parse(source).Source);
    }

    [Fact]
    public void MessagesFromBuildsRoleContentObjects()
    {
        JsonArray messages = ChatTemplateInput.MessagesFrom([("system", "S"), ("user", "U")]);
        Assert.Equal("""[{"role":"system","content":"S"},{"role":"user","content":"U"}]""", messages.ToJsonString());
        string text = ChatTemplate.Parse("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}")
            .Render(new ChatTemplateInput { Messages = messages });
        Assert.Equal("<system>S<user>U", text);
    }

    [Fact]
    public void ParseErrorsNameOriginLineAndColumn()
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("ok\n{% if x %}\n{{ y | frobnicate }}{% endif %}", "t.jinja"));
        Assert.Equal("t.jinja:3:8: no filter named 'frobnicate'", e.Message);
        Assert.False(e.RaisedByTemplate);
        Assert.IsAssignableFrom<QuantSharpException>(e);
    }

    [Fact]
    public void RuntimeErrorsAreLocatedAndNotMarkedAsRaised()
    {
        ChatTemplate t = ChatTemplate.Parse("line1\n{{ 1 + 'a' }}", "t.jinja");
        var e = Assert.Throws<ChatTemplateException>(() => t.Render(new ChatTemplateInput { Messages = [] }));
        Assert.StartsWith("t.jinja:2:", e.Message);
        Assert.Contains("unsupported operand type(s) for +: 'int' and 'str'", e.Message);
        Assert.False(e.RaisedByTemplate);
    }

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesMessageOnly()
    {
        ChatTemplate t = ChatTemplate.Parse("{% if messages|length == 0 %}{{ raise_exception('No messages: ' ~ 0) }}{% endif %}");
        var e = Assert.Throws<ChatTemplateException>(() => t.Render(new ChatTemplateInput { Messages = [] }));
        Assert.True(e.RaisedByTemplate);
        Assert.Equal("No messages: 0", e.Message);
    }

    [Fact]
    public void InputVariablesReachTheTemplate()
    {
        ChatTemplate t = ChatTemplate.Parse(
            "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools }}|{{ documents }}|{{ enable_thinking }}|{{ strftime_now('%d %b %Y') }}");
        var input = new ChatTemplateInput
        {
            Messages = [],
            BosToken = "<s>",
            EosToken = "</s>",
            AddGenerationPrompt = true,
            Variables = new Dictionary<string, JsonNode?> { ["enable_thinking"] = false },
            Now = new DateTime(2026, 12, 6),
        };
        Assert.Equal("<s>|</s>|True|None|None|False|06 Dec 2026", t.Render(input));
    }

    [Fact]
    public void MissingSpecialTokensAreUndefinedNotNone()
    {
        ChatTemplate t = ChatTemplate.Parse("[{{ bos_token }}]{{ bos_token is defined }}");
        Assert.Equal("[]False", t.Render(new ChatTemplateInput { Messages = [] }));
    }

    [Fact]
    public void ToolsAreJsonWithInsertionOrderAndUnicode()
    {
        var tools = (JsonArray)JsonNode.Parse("""[{"name": "wetter", "z": 1, "a": [1.0, 2, "Zürich"]}]""")!;
        ChatTemplate t = ChatTemplate.Parse("{% for tool in tools %}{{ tool | tojson }}{% endfor %}");
        Assert.Equal("""{"name": "wetter", "z": 1, "a": [1.0, 2, "Zürich"]}""", t.Render(new ChatTemplateInput { Messages = [], Tools = tools }));
    }
}
