using System.Text.Json.Nodes;

namespace QuantSharp.Templates;

/// <summary>
/// A Hugging Face chat template (the Jinja2 <c>chat_template</c> of a tokenizer), parsed once and rendered per
/// conversation. Rendering reproduces, byte for byte, what transformers' <c>apply_chat_template(tokenize=False)</c>
/// produces: Jinja2's sandboxed environment with <c>trim_blocks</c>, <c>lstrip_blocks</c> and loop controls,
/// Python value semantics (<c>True</c>, <c>None</c>, <c>['a']</c>, <c>1.0</c>), and <c>tojson</c> as
/// <c>json.dumps(ensure_ascii=False)</c>.
/// </summary>
/// <remarks>
/// A template is code from a downloaded file, so rendering is bounded: 8 Mi characters of output (and per string or
/// list built), 1,000,000 loop iterations plus macro calls, macro calls 64 deep, blocks and expressions 256 deep;
/// past any bound the render fails with a <see cref="ChatTemplateException"/>.
/// </remarks>
public sealed class ChatTemplate
{
    private readonly Statement[] _body;
    private readonly string _origin;

    private ChatTemplate(string source, string origin, Statement[] body)
    {
        Source = source;
        _origin = origin;
        _body = body;
    }

    /// <summary>The template text as given to <see cref="Parse"/>.</summary>
    public string Source { get; }

    /// <summary>Parses a template.</summary>
    /// <param name="source">The Jinja2 text (e.g. <c>tokenizer_config.json</c>'s <c>chat_template</c>).</param>
    /// <param name="origin">A name for messages, such as the file name; defaults to <c>chat_template</c>.</param>
    /// <exception cref="ChatTemplateException">
    /// A syntax error, an unknown filter/test/tag, or nesting beyond the limit, as <c>origin:line:col: problem</c>.
    /// </exception>
    public static ChatTemplate Parse(string source, string? origin = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        string name = origin ?? "chat_template";
        return new ChatTemplate(source, name, TemplateParser.Parse(source, name));
    }

    /// <summary>Renders the template for one conversation.</summary>
    /// <returns>The prompt text.</returns>
    /// <exception cref="ChatTemplateException">
    /// The template called <c>raise_exception(message)</c> (then <see cref="ChatTemplateException.RaisedByTemplate"/>
    /// is true and the message is the template's), failed at run time (<c>origin:line:col: problem</c>, e.g. an
    /// undefined value used in arithmetic), or exceeded a limit.
    /// </exception>
    public string Render(ChatTemplateInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var globals = new Scope(null);
        TemplateGlobals.AddTo(globals, input.Now);
        if (input.Variables is not null)
        {
            foreach (KeyValuePair<string, JsonNode?> pair in input.Variables)
            {
                globals.Set(pair.Key, TemplateJson.FromNode(pair.Value));
            }
        }

        globals.Set("messages", TemplateJson.FromNode(input.Messages));
        if (input.Tools is not null || !globals.TryGet("tools", out _))
        {
            globals.Set("tools", TemplateJson.FromNode(input.Tools));
        }

        globals.Set("documents", null);
        globals.Set("add_generation_prompt", input.AddGenerationPrompt);
        if (input.BosToken is not null)
        {
            globals.Set("bos_token", input.BosToken);
        }

        if (input.EosToken is not null)
        {
            globals.Set("eos_token", input.EosToken);
        }

        try
        {
            return new TemplateRenderer().Render(_body, globals);
        }
        catch (TemplateRuntimeException e) when (e.RaisedByTemplate)
        {
            throw new ChatTemplateException(e.Message, raisedByTemplate: true);
        }
        catch (TemplateRuntimeException e)
        {
            throw new ChatTemplateException($"{_origin}:{e.Line}:{e.Column}: {e.Message}", e);
        }
        catch (InsufficientExecutionStackException e)
        {
            throw new ChatTemplateException($"{_origin}: template recursion too deep for the stack", e);
        }
    }
}
