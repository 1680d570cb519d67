using System.Text.Json.Nodes;
using QuantSharp.Templates;

namespace QuantSharp.Tests.Templates;

/// <summary>
/// Focused checks of the Jinja2 engine. Expected strings were produced by Jinja2 3.1 in Hugging Face's
/// environment (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols).
/// </summary>
public class TemplateEngineTests
{
    internal static string Render(string source, string variables = "{}")
    {
        JsonObject vars = JsonNode.Parse(variables)!.AsObject();
        var input = new ChatTemplateInput
        {
            Messages = vars["messages"]?.DeepClone().AsArray() ?? [],
            Variables = vars.Where(p => p.Key != "messages").ToDictionary(p => p.Key, p => p.Value?.DeepClone()),
            Now = new DateTime(2026, 12, 6, 14, 5, 9),
        };
        return ChatTemplate.Parse(source, "t").Render(input);
    }

    private const string Conversation = """
        {"messages": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "  Hi  "},
                      {"role": "assistant", "content": null, "tool_calls": [{"id": "abc123def", "type": "function",
                       "function": {"name": "f", "arguments": {"a": 1, "b": [1.5, 2.0, "x"]}}}]}],
         "xs": [1, 2, 3]}
        """;

    [Theory]
    [InlineData("  {% if true %}\n    x\n  {% endif %}\n  y  {{- ' z ' -}}  w\n{# comment #}\n  {#- c -#}  v", "    x\n  y z w\nv")]
    [InlineData("a\n  {%- if true -%}\n  b\n  {%- endif %}\nc\n{%+ if true %}d{% endif %}\n  {%+ if true %}e{% endif %}", "abc\nd  e")]
    [InlineData("line1\n", "line1")]
    [InlineData("line1\n\n", "line1\n")]
    [InlineData("a\r\nb\r\n{% if true %}\r\nc\r\n{% endif %}\r\n", "a\nb\nc\n")]
    [InlineData("{{ x }}  {% if true %}  \nA{% endif %}", "    \nA")]
    [InlineData("x\n    {%- raw -%}\n  {{ r }}  \n  {%- endraw %}\nz", "x{{ r }}z")]
    [InlineData("   {% raw %}  a  {% endraw %}   \n b", "  a     \n b")]
    [InlineData("{% if true -%}   \n\n  a  \n  {%- endif %}", "a")]
    public void WhitespaceControlMatchesJinja(string source, string expected)
    {
        Assert.Equal(expected, Render(source));
    }

    [Fact]
    public void LoopVariables()
    {
        const string source = "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/"
            + "{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {{ loop.previtem.role if loop.previtem is defined else '-' }} "
            + "{{ loop.nextitem.role if loop.nextitem is defined else '-' }} {{ loop.cycle('a','b') }}\n{% endfor %}";
        Assert.Equal(
            "1/0/3/2/True/False/3 - user a\n2/1/2/1/False/False/3 system assistant b\n3/2/1/0/False/True/3 user - a\n",
            Render(source, Conversation));
    }

    [Theory]
    [InlineData("{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }} {% else %}none{% endfor %}", "1:user 2:assistant ")]
    [InlineData("{% for x in [] %}a{% else %}empty{% endfor %}", "empty")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;")]
    [InlineData("{% for x in range(10) %}{% if x == 5 %}{% break %}{% endif %}{% if x is odd %}{% continue %}{% endif %}{{ x }}{% endfor %}", "024")]
    [InlineData("{% for i in xs %}{% for j in xs %}{% if j == 2 %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}", "11 21 31 ")]
    [InlineData("{% for m in messages[0].nope %}x{% endfor %}ok", "ok")]
    public void ForLoops(string source, string expected)
    {
        Assert.Equal(expected, Render(source, Conversation));
    }

    [Theory]
    [InlineData("{% set x = 1 %}{% for i in range(3) %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", "1231")]
    [InlineData("{% for x in xs %}{% set y = x %}{% endfor %}[{{ y }}]", "[]")]
    [InlineData("{% if true %}{% set y = 5 %}{% endif %}{{ y }}", "5")]
    [InlineData("{% set ns = namespace(c=0, s='') %}{% for m in messages %}{% set ns.c = ns.c + 1 %}{% set ns.s = ns.s ~ m.role[0] %}{% endfor %}{{ ns.c }} {{ ns.s }}", "3 sua")]
    [InlineData("{% set ns = namespace() %}{% set ns.index = 0 %}{{ ns.index }}{{ ns }}", "0<Namespace {'index': 0}>")]
    [InlineData("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = [1, 2] %}{% set d, e = c %}{{ d + e }}", "123")]
    [InlineData("{% set block %}Hello {{ 'world' }}{% endset %}{{ block }}|{% set t | trim %}  padded  {% endset %}[{{ t }}]", "Hello world|[padded]")]
    [InlineData("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", "3[]")]
    public void AssignmentAndScoping(string source, string expected)
    {
        Assert.Equal(expected, Render(source, Conversation));
    }

    [Theory]
    [InlineData("{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Bob') }} {{ greet('Al', greeting='Hi') }} {{ greet(name='X') }}", "Hello, Bob! Hi, Al! Hello, X!")]
    [InlineData("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}", "54321")]
    [InlineData("{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}inside{% endcall %}", "[inside]")]
    [InlineData("{% filter upper %}abc {{ 'd' }}{% endfilter %}", "ABC D")]
    [InlineData("{% raw %}{{ not rendered }}{% endraw %}", "{{ not rendered }}")]
    [InlineData("{% generation %}gen {{ 1 }}{% endgeneration %}", "gen 1")]
    public void MacrosCallsAndBlocks(string source, string expected)
    {
        Assert.Equal(expected, Render(source));
    }

    [Theory]
    [InlineData("{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[-2:] }} {{ [1,2,3,4,5][1::2] }} {{ [1,2,3][:-1] }}", "el olleh lo [2, 4] [1, 2]")]
    [InlineData("{{ 'h🦙llo'[1] }} {{ 'h🦙llo'[2:] }} {{ 'h🦙llo'|length }}", "🦙 llo 5")]
    [InlineData("{% set x = [1,2,3] %}{{ x[0] }}{{ x.0 }}{{ x[-1] }}{{ x['a'] }}{{ x[10] }}|{{ 'abc'[5] }}", "113|")]
    [InlineData("{{ messages[2].tool_calls[0].function.arguments.b[0] + 1 }}", "2.5")]
    public void IndexingAndSlicing(string source, string expected)
    {
        Assert.Equal(expected, Render(source, Conversation));
    }

    [Theory]
    [InlineData("{{ 1 + 1 }} {{ 1 + 1.0 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 2 ** 3 ** 2 }} {{ 10 / 4 }} {{ -3 }}", "2 2.0 3 -4 -2 64 2.5 -3")]
    [InlineData("{{ 1e16 }} {{ 1e15 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ 1e-5 }} {{ 0.0001 }} {{ -0.0 }} {{ 3.0 }}", "1e+16 1000000000000000.0 0.30000000000000004 0.3333333333333333 1e-05 0.0001 -0.0 3.0")]
    [InlineData("{{ [1, 'a', none, true, 1.0, (1,), {'k': [2]}] }} {{ (1, 2) }} {{ () }}", "[1, 'a', None, True, 1.0, (1,), {'k': [2]}] (1, 2) ()")]
    [InlineData("{{ ['a\u00a0b', \"it's\", 'x\"y', \"both'\\\"\"] }}", "['a\\xa0b', \"it's\", 'x\"y', 'both\\'\"']")]
    [InlineData("{{ none }}|{{ true }}|{{ x }}|{{ 'a' if false }}|{{ 'a' ~ 1 ~ none ~ true ~ 1.5 }}", "None|True|||a1NoneTrue1.5")]
    [InlineData("{{ 'x' * 3 }} {{ [1] * 2 }} {{ [1] + [2] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 != 1.0 }} {{ [1,2] < [1,3] }}", "xxx [1, 1] [1, 2] True False False True")]
    [InlineData("{{ not true or true }} {{ true and 0 }} {{ '' or 'x' }} {{ none or [] }}", "True 0 x []")]
    public void PythonValueSemantics(string source, string expected)
    {
        Assert.Equal(expected, Render(source));
    }

    [Theory]
    [InlineData("{{ messages[1].content|trim }}|{{ messages[1]['content'].strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.rsplit(' ', 1) }}", "Hi|Hi|a|['a', 'b', '', 'c']|['a', 'b']|['a b', 'c']")]
    [InlineData("{{ messages | length }} {{ messages|map(attribute='role')|join(', ') }} {{ messages|selectattr('role','equalto','user')|list|length }} {{ messages|rejectattr('role','equalto','user')|map(attribute='role')|list }}", "3 system, user, assistant 1 ['system', 'assistant']")]
    [InlineData("{{ [3,1,2]|sort }} {{ [3,1,2]|sort(reverse=true) }} {{ ['b','A','c']|sort }} {{ ['b','A','c']|sort(case_sensitive=true) }}", "[1, 2, 3] [3, 2, 1] ['A', 'b', 'c'] ['A', 'b', 'c']")]
    [InlineData("{{ [1,2,3]|first }} {{ [1,2,3]|last }} {{ 'abc'|list }} {{ [1,2,2,'a','A']|unique|list }} {{ [1,2,3]|sum }} {{ [1,5,3]|max }} {{ [1,2,3]|reverse|list }}", "1 3 ['a', 'b', 'c'] [1, 2, 'a'] 6 5 [3, 2, 1]")]
    [InlineData("{{ x|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|d('n', boolean=true) }}", "d  d n")]
    [InlineData("{{ 'hello world'|title }} {{ 'hello'|capitalize }} {{ 'a-b'|replace('-', '+') }} {{ '42'|int + 1 }} {{ '4.5'|float }} {{ 'x'|int(7) }} {{ -3|abs }} {{ 2.567|round(2) }} {{ 2.5|round }}", "Hello World Hello a+b 43 4.5 7 3 2.57 2.0")]
    [InlineData("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'x'|center(7) }}|{{ 'a b  c'|wordcount }}", "a\n  b\n\n  c|  a\n  b|   x   |3")]
    [InlineData("{{ {'b': 2, 'a': 1}|dictsort }} {{ {'a': 1}.get('z', 'dflt') }} {{ {'a':1}|items|list }} {{ [1,2,3,4]|select('odd')|list }} {{ [1,2,3,4]|reject('gt', 2)|list }}", "[('a', 1), ('b', 2)] dflt [('a', 1)] [1, 3] [1, 2]")]
    [InlineData("{{ '%s-%d-%05.1f-%x' % ('a', 3, 2.25, 255) }} {{ '{} {}'.format(1, 'b') }} {{ '%s and %s'|format('a', 'b') }} {{ 'x'|e }}{{ '<&>'|escape }}", "a-3-002.2-ff 1 b a and b x&lt;&amp;&gt;")]
    [InlineData("{{ 'abc'.startswith('a') }} {{ 'abc'.endswith(('x','c')) }} {{ 'abc'.find('c') }} {{ 'aXbXc'.count('X') }} {{ ','.join(['a','b']) }} {{ 'a' in 'cat' }} {{ 1 in [1.0] }}", "True True 2 2 a,b True True")]
    [InlineData("{{ none|selectattr('type', 'equalto', 'x')|list|length }}{{ none|map(attribute='a')|list }}{{ ''|select|list }}", "0[][]")]
    public void FiltersAndMethods(string source, string expected)
    {
        Assert.Equal(expected, Render(source, Conversation));
    }

    [Theory]
    [InlineData("{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 1 is number }} {{ 1.0 is float }} {{ 1 is integer }} {{ true is boolean }} {{ true is number }}", "False True True True True True True True")]
    [InlineData("{{ 'a' is string }} {{ {} is mapping }} {{ [] is sequence }} {{ 'a' is iterable }} {{ x is iterable }} {{ 1 is iterable }}", "True True True True True False")]
    [InlineData("{{ 3 is divisibleby 3 }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 2 is even }} {{ none is sameas none }} {{ 2 is in [1,2] }} {{ 'a' is eq 'a' }} {{ 'x' is not none }}", "True True True True True True True True")]
    [InlineData("{{ messages[2].content is none }} {{ messages[2].foo is defined }} {{ messages[0].content.foo is defined }}", "True False False")]
    public void Tests(string source, string expected)
    {
        Assert.Equal(expected, Render(source, Conversation));
    }

    [Theory]
    [InlineData("{{ messages[2].tool_calls[0].function.arguments | tojson }}", "{\"a\": 1, \"b\": [1.5, 2.0, \"x\"]}")]
    [InlineData("{{ {'a': [1, {'b': []}], 'c': {}} | tojson(indent=2) }}", "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ],\n  \"c\": {}\n}")]
    [InlineData("{{ {'a': 'ü\"\\n\\t<>&\\u0001'} | tojson }}", "{\"a\": \"ü\\\"\\n\\t<>&\\u0001\"}")]
    [InlineData("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}{{ 'é' | tojson(ensure_ascii=true) }}{{ {'a': 1}|tojson(separators=(',', ':')) }}", "{\"a\": 2, \"b\": 1}\"\\u00e9\"{\"a\":1}")]
    [InlineData("{{ {'a': none, 'b': true, 'c': 1.0, 'd': [1, (2, 3)]}|tojson }} {{ {1: 'x', true: 'y'}|tojson }}", "{\"a\": null, \"b\": true, \"c\": 1.0, \"d\": [1, [2, 3]]} {\"1\": \"y\"}")]
    public void ToJsonMatchesPythonJsonDumps(string source, string expected)
    {
        Assert.Equal(expected, Render(source, Conversation));
    }

    [Fact]
    public void StrftimeNowFormatsTheInputMoment()
    {
        Assert.Equal("2026-12-06 06 Dec 2026 December Sunday Sun 14:05:09 6 340 PM 02",
            Render("{{ strftime_now('%Y-%m-%d %d %b %Y %B %A %a %H:%M:%S %-d %j %p %I') }}"));
    }

    [Theory]
    [InlineData("{{ undefined_var.attr }}", "t:1:18: 'undefined_var' is undefined")]
    [InlineData("{{ 'a' + 1 }}", "t:1:8: can only concatenate str (not \"int\") to str")]
    [InlineData("{{ [].append(1) }}", "t:1:13: access to attribute 'append' of 'list' object is unsafe.")]
    [InlineData("{% for x in 5 %}{% endfor %}", "t:1:4: 'int' object is not iterable")]
    [InlineData("{{ messages[0].nope.deeper }}", "t:1:21: 'dict object' has no attribute 'nope'")]
    [InlineData("{{ x|tojson }}", "t:1:6: Object of type Undefined is not JSON serializable")]
    [InlineData("{{ frobnicate(1) }}", "t:1:14: 'frobnicate' is undefined")]
    public void RuntimeErrorsSayWhatAndWhere(string source, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(source, Conversation));
        Assert.Equal(message, e.Message);
    }
}
