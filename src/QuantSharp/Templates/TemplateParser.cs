namespace QuantSharp.Templates;

/// <summary>
/// Recursive-descent parser from tokens to a statement tree, following Jinja2's grammar and operator precedence
/// (filters bind tighter than arithmetic, so <c>'a' + b | trim</c> trims only <c>b</c>). Unknown filters, tests and
/// tags are rejected here, with their position. Blocks and expressions nesting deeper than
/// <see cref="TemplateLimits.MaxNestingDepth"/> are rejected so neither parsing nor rendering can overflow the stack.
/// </summary>
internal sealed class TemplateParser
{
    private static readonly string[] s_compareOperators = ["==", "!=", "<", "<=", ">", ">="];
    private static readonly HashSet<string> s_unsupportedTags =
        ["include", "import", "from", "extends", "block", "endblock", "autoescape", "do", "trans", "pluralize"];

    private readonly List<Token> _tokens;
    private readonly string _origin;
    private readonly Stack<Token> _openBlocks = new();
    private int _index;
    private int _expressionDepth;
    private int _loopDepth;

    private TemplateParser(List<Token> tokens, string origin)
    {
        _tokens = tokens;
        _origin = origin;
    }

    private Token Current => _tokens[_index];

    /// <summary>Parses a whole template.</summary>
    /// <exception cref="ChatTemplateException">Any syntax error, as <c>origin:line:col: problem</c>.</exception>
    public static Statement[] Parse(string source, string origin)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source, origin), origin);
        try
        {
            return parser.ParseBody([]);
        }
        catch (InsufficientExecutionStackException)
        {
            throw parser.Error(parser.Current, "template nests too deeply");
        }
    }

    private Token Peek(int ahead = 1) => _tokens[Math.Min(_index + ahead, _tokens.Count - 1)];

    private Token Advance()
    {
        Token t = _tokens[_index];
        if (_index < _tokens.Count - 1)
        {
            _index++;
        }

        return t;
    }

    private Token Expect(string op)
    {
        if (!Current.IsOperator(op))
        {
            throw Error(Current, $"expected '{op}', got {Current.Describe()}");
        }

        return Advance();
    }

    private Token ExpectName(string? name = null)
    {
        if (Current.Kind != TokenKind.Name || (name is not null && Current.Text != name))
        {
            throw Error(Current, $"expected {(name is null ? "a name" : $"'{name}'")}, got {Current.Describe()}");
        }

        return Advance();
    }

    private void ExpectKind(TokenKind kind)
    {
        if (Current.Kind != kind)
        {
            string what = kind == TokenKind.BlockEnd ? "end of statement block ('%}')" : "end of print statement ('}}')";
            throw Error(Current, $"expected {what}, got {Current.Describe()}");
        }

        Advance();
    }

    private ChatTemplateException Error(Token at, string problem) => new($"{_origin}:{at.Line}:{at.Column}: {problem}");

    private T Make<T>(T node)
        where T : Expression
    {
        if (node.Depth > TemplateLimits.MaxNestingDepth)
        {
            throw new ChatTemplateException(
                $"{_origin}:{node.Line}:{node.Column}: expression nests deeper than {TemplateLimits.MaxNestingDepth} levels");
        }

        return node;
    }

    // ---- statements ----

    /// <summary>Parses until <c>{% tag %}</c> with a tag in <paramref name="endTags"/>; stops on that tag's name.</summary>
    private Statement[] ParseBody(string[] endTags)
    {
        var body = new List<Statement>();
        while (true)
        {
            Token t = Current;
            switch (t.Kind)
            {
                case TokenKind.Data:
                    body.Add(new TextStatement(t.Line, t.Column, t.Text));
                    Advance();
                    break;
                case TokenKind.VariableBegin:
                    Advance();
                    Expression value = ParseTuple();
                    ExpectKind(TokenKind.VariableEnd);
                    body.Add(new OutputStatement(t.Line, t.Column, value));
                    break;
                case TokenKind.BlockBegin:
                    Token name = Peek();
                    Advance();
                    if (name.Kind == TokenKind.Name && endTags.Contains(name.Text))
                    {
                        return [.. body];
                    }

                    body.Add(ParseStatement());
                    break;
                case TokenKind.End:
                    if (endTags.Length > 0)
                    {
                        Token open = _openBlocks.Peek();
                        throw Error(open, $"unexpected end of template: '{open.Text}' is never closed; expected " +
                            string.Join(" or ", endTags.Select(e => $"'{e}'")));
                    }

                    return [.. body];
                default:
                    throw Error(t, $"unexpected {t.Describe()}");
            }
        }
    }

    private Statement ParseStatement()
    {
        Token tag = Current;
        if (tag.Kind != TokenKind.Name)
        {
            throw Error(tag, $"expected a statement name, got {tag.Describe()}");
        }

        if (_openBlocks.Count >= TemplateLimits.MaxNestingDepth)
        {
            throw Error(tag, $"blocks nest deeper than {TemplateLimits.MaxNestingDepth} levels");
        }

        RuntimeHelpers.EnsureSufficientExecutionStack();
        _openBlocks.Push(tag);
        try
        {
            return tag.Text switch
            {
                "if" => ParseIf(),
                "for" => ParseFor(),
                "set" => ParseSet(),
                "macro" => ParseMacro(),
                "call" => ParseCallBlock(),
                "filter" => ParseFilterBlock(),
                "break" or "continue" => ParseLoopControl(),
                "with" => ParseWith(),
                "generation" => ParseGeneration(),
                _ when s_unsupportedTags.Contains(tag.Text) =>
                    throw Error(tag, $"the '{tag.Text}' tag is not supported in chat templates"),
                _ when tag.Text.StartsWith("end", StringComparison.Ordinal) || tag.Text is "else" or "elif" =>
                    throw Error(tag, $"unexpected '{tag.Text}'" + (_openBlocks.Count > 1 ? $" inside '{_openBlocks.ElementAt(1).Text}' block" : " outside of any block")),
                _ => throw Error(tag, $"unknown tag '{tag.Text}'"),
            };
        }
        finally
        {
            _openBlocks.Pop();
        }
    }

    /// <summary>Consumes the end tag name the body stopped on, then <c>%}</c>.</summary>
    private void FinishEndTag()
    {
        Advance();
        ExpectKind(TokenKind.BlockEnd);
    }

    private IfStatement ParseIf()
    {
        Token start = Advance();
        var branches = new List<(Expression, Statement[])>();
        Expression test = ParseTuple(withCondExpr: false);
        ExpectKind(TokenKind.BlockEnd);
        branches.Add((test, ParseBody(["elif", "else", "endif"])));
        while (true)
        {
            Token tag = Advance();
            if (tag.Text == "elif")
            {
                test = ParseTuple(withCondExpr: false);
                ExpectKind(TokenKind.BlockEnd);
                branches.Add((test, ParseBody(["elif", "else", "endif"])));
                continue;
            }

            Statement[]? otherwise = null;
            ExpectKind(TokenKind.BlockEnd);
            if (tag.Text == "else")
            {
                otherwise = ParseBody(["endif"]);
                FinishEndTag();
            }

            return new IfStatement(start.Line, start.Column, [.. branches], otherwise);
        }
    }

    private ForStatement ParseFor()
    {
        Token start = Advance();
        AssignTarget target = ParseAssignTarget(withNamespace: false, "in");
        ExpectName("in");
        Expression iterable = ParseTuple(withCondExpr: false, ["recursive"]);
        Expression? filter = null;
        if (Current.IsName("if"))
        {
            Advance();
            filter = ParseExpression();
        }

        if (Current.IsName("recursive"))
        {
            throw Error(Current, "recursive loops are not supported");
        }

        ExpectKind(TokenKind.BlockEnd);
        _loopDepth++;
        Statement[] body = ParseBody(["endfor", "else"]);
        _loopDepth--;
        Statement[]? otherwise = null;
        if (Current.Text == "else")
        {
            Advance();
            ExpectKind(TokenKind.BlockEnd);
            otherwise = ParseBody(["endfor"]);
        }

        FinishEndTag();
        return new ForStatement(start.Line, start.Column, target, iterable, filter, body, otherwise);
    }

    private Statement ParseSet()
    {
        Token start = Advance();
        AssignTarget target = ParseAssignTarget(withNamespace: true);
        if (Current.IsOperator("="))
        {
            Advance();
            Expression value = ParseTuple();
            ExpectKind(TokenKind.BlockEnd);
            return new SetStatement(start.Line, start.Column, target, value);
        }

        FilterExpression? filter = Current.IsOperator("|") ? (FilterExpression)ParseFilters(null, startInline: false)! : null;
        ExpectKind(TokenKind.BlockEnd);
        Statement[] body = ParseBody(["endset"]);
        FinishEndTag();
        return new SetBlockStatement(start.Line, start.Column, target, filter, body);
    }

    private MacroStatement ParseMacro()
    {
        Token start = Advance();
        string name = ExpectName().Text;
        MacroParameter[] parameters = ParseSignature();
        ExpectKind(TokenKind.BlockEnd);
        Statement[] body = ParseMacroBody("endmacro");
        FinishEndTag();
        return new MacroStatement(start.Line, start.Column, name, parameters, body);
    }

    private Statement[] ParseMacroBody(string endTag)
    {
        int savedLoopDepth = _loopDepth;
        _loopDepth = 0;
        Statement[] body = ParseBody([endTag]);
        _loopDepth = savedLoopDepth;
        return body;
    }

    private MacroParameter[] ParseSignature()
    {
        Expect("(");
        var parameters = new List<MacroParameter>();
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0)
            {
                Expect(",");
            }

            Token name = ExpectName();
            Expression? fallback = null;
            if (Current.IsOperator("="))
            {
                Advance();
                fallback = ParseExpression();
            }
            else if (parameters.Count > 0 && parameters[^1].Default is not null)
            {
                throw Error(name, "non-default argument follows default argument");
            }

            parameters.Add(new MacroParameter(name.Text, fallback));
        }

        Advance();
        return [.. parameters];
    }

    private CallBlockStatement ParseCallBlock()
    {
        Token start = Advance();
        MacroParameter[] parameters = Current.IsOperator("(") ? ParseSignature() : [];
        Token callStart = Current;
        if (ParseExpression() is not CallExpression call)
        {
            throw Error(callStart, "expected a macro call after 'call'");
        }

        ExpectKind(TokenKind.BlockEnd);
        Statement[] body = ParseMacroBody("endcall");
        FinishEndTag();
        return new CallBlockStatement(start.Line, start.Column, call, new MacroStatement(start.Line, start.Column, "caller", parameters, body));
    }

    private FilterBlockStatement ParseFilterBlock()
    {
        Token start = Advance();
        var filter = (FilterExpression)ParseFilters(null, startInline: true)!;
        ExpectKind(TokenKind.BlockEnd);
        Statement[] body = ParseBody(["endfilter"]);
        FinishEndTag();
        return new FilterBlockStatement(start.Line, start.Column, filter, body);
    }

    private LoopControlStatement ParseLoopControl()
    {
        Token tag = Advance();
        if (_loopDepth == 0)
        {
            throw Error(tag, $"'{tag.Text}' outside of a loop");
        }

        ExpectKind(TokenKind.BlockEnd);
        return new LoopControlStatement(tag.Line, tag.Column, tag.Text == "break");
    }

    private ScopedBlockStatement ParseWith()
    {
        Token start = Advance();
        var assignments = new List<(AssignTarget, Expression)>();
        while (Current.Kind != TokenKind.BlockEnd)
        {
            if (assignments.Count > 0)
            {
                Expect(",");
            }

            AssignTarget target = ParseAssignTarget(withNamespace: false);
            Expect("=");
            assignments.Add((target, ParseExpression()));
        }

        Advance();
        Statement[] body = ParseBody(["endwith"]);
        FinishEndTag();
        return new ScopedBlockStatement(start.Line, start.Column, [.. assignments], body, newScope: true);
    }

    private ScopedBlockStatement ParseGeneration()
    {
        Token start = Advance();
        ExpectKind(TokenKind.BlockEnd);
        Statement[] body = ParseBody(["endgeneration"]);
        FinishEndTag();
        return new ScopedBlockStatement(start.Line, start.Column, [], body, newScope: false);
    }

    private AssignTarget ParseAssignTarget(bool withNamespace, params string[] extraEnd)
    {
        if (withNamespace && Current.Kind == TokenKind.Name && Peek().IsOperator("."))
        {
            string name = Advance().Text;
            Advance();
            return new NamespaceTarget(name, ExpectName().Text);
        }

        var items = new List<AssignTarget>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0)
            {
                Expect(",");
            }

            if (items.Count > 0 && (IsTupleEnd(extraEnd) || Current.IsOperator("=")))
            {
                break;
            }

            items.Add(ParseTargetItem());
            if (Current.IsOperator(","))
            {
                isTuple = true;
            }
            else
            {
                break;
            }
        }

        return isTuple ? new TupleTarget([.. items]) : items[0];
    }

    private AssignTarget ParseTargetItem()
    {
        if (Current.IsOperator("("))
        {
            Advance();
            AssignTarget inner = ParseAssignTarget(withNamespace: false);
            Expect(")");
            return inner;
        }

        Token name = ExpectName();
        if (name.Text is "true" or "false" or "none" or "True" or "False" or "None")
        {
            throw Error(name, $"cannot assign to '{name.Text}'");
        }

        return new NameTarget(name.Text);
    }

    // ---- expressions ----

    private bool IsTupleEnd(string[]? extraEnd) =>
        Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.End ||
        Current.IsOperator(")") ||
        (extraEnd is not null && Current.Kind == TokenKind.Name && extraEnd.Contains(Current.Text));

    /// <summary>An expression, or several separated by commas (a tuple); Jinja's <c>parse_tuple</c>.</summary>
    private Expression ParseTuple(bool withCondExpr = true, string[]? extraEnd = null, bool explicitParentheses = false)
    {
        Token start = Current;
        var items = new List<Expression>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0)
            {
                Expect(",");
            }

            if (IsTupleEnd(extraEnd))
            {
                break;
            }

            items.Add(withCondExpr ? ParseExpression() : ParseOr());
            if (Current.IsOperator(","))
            {
                isTuple = true;
            }
            else
            {
                break;
            }
        }

        if (!isTuple)
        {
            if (items.Count > 0)
            {
                return items[0];
            }

            if (!explicitParentheses)
            {
                throw Error(Current, $"expected an expression, got {Current.Describe()}");
            }
        }

        return Make(new TupleExpression(start.Line, start.Column, [.. items]));
    }

    private Expression ParseExpression() => ParseConditional();

    private Expression ParseConditional()
    {
        Expression expr = ParseOr();
        while (Current.IsName("if"))
        {
            Token t = Advance();
            Expression test = ParseOr();
            Expression? otherwise = null;
            if (Current.IsName("else"))
            {
                Advance();
                otherwise = ParseConditional();
            }

            expr = Make(new ConditionalExpression(t.Line, t.Column, test, expr, otherwise));
        }

        return expr;
    }

    private Expression ParseOr()
    {
        Expression left = ParseAnd();
        while (Current.IsName("or"))
        {
            Token t = Advance();
            left = Make(new BinaryExpression(t.Line, t.Column, "or", left, ParseAnd()));
        }

        return left;
    }

    private Expression ParseAnd()
    {
        Expression left = ParseNot();
        while (Current.IsName("and"))
        {
            Token t = Advance();
            left = Make(new BinaryExpression(t.Line, t.Column, "and", left, ParseNot()));
        }

        return left;
    }

    private Expression ParseNot()
    {
        if (!Current.IsName("not"))
        {
            return ParseCompare();
        }

        Token t = Advance();
        EnterExpression(t);
        Expression operand = ParseNot();
        _expressionDepth--;
        return Make(new UnaryExpression(t.Line, t.Column, "not", operand));
    }

    private void EnterExpression(Token at)
    {
        if (++_expressionDepth > TemplateLimits.MaxNestingDepth)
        {
            throw Error(at, $"expression nests deeper than {TemplateLimits.MaxNestingDepth} levels");
        }

        RuntimeHelpers.EnsureSufficientExecutionStack();
    }

    private Expression ParseCompare()
    {
        Token start = Current;
        Expression first = ParseMath1();
        var rest = new List<(string, Expression)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && s_compareOperators.Contains(Current.Text))
            {
                string op = Advance().Text;
                rest.Add((op, ParseMath1()));
            }
            else if (Current.IsName("in"))
            {
                Advance();
                rest.Add(("in", ParseMath1()));
            }
            else if (Current.IsName("not") && Peek().IsName("in"))
            {
                Advance();
                Advance();
                rest.Add(("not in", ParseMath1()));
            }
            else
            {
                break;
            }
        }

        return rest.Count == 0 ? first : Make(new CompareExpression(start.Line, start.Column, first, [.. rest]));
    }

    private Expression ParseMath1()
    {
        Expression left = ParseConcat();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            Token t = Advance();
            left = Make(new BinaryExpression(t.Line, t.Column, t.Text, left, ParseConcat()));
        }

        return left;
    }

    private Expression ParseConcat()
    {
        Token start = Current;
        Expression first = ParseMath2();
        if (!Current.IsOperator("~"))
        {
            return first;
        }

        var operands = new List<Expression> { first };
        while (Current.IsOperator("~"))
        {
            Advance();
            operands.Add(ParseMath2());
        }

        return Make(new ConcatExpression(start.Line, start.Column, [.. operands]));
    }

    private Expression ParseMath2()
    {
        Expression left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            Token t = Advance();
            left = Make(new BinaryExpression(t.Line, t.Column, t.Text, left, ParsePow()));
        }

        return left;
    }

    private Expression ParsePow()
    {
        Expression left = ParseUnary(withFilter: true);
        while (Current.IsOperator("**"))
        {
            Token t = Advance();
            left = Make(new BinaryExpression(t.Line, t.Column, "**", left, ParseUnary(withFilter: true)));
        }

        return left;
    }

    private Expression ParseUnary(bool withFilter)
    {
        Token t = Current;
        EnterExpression(t);
        Expression node;
        if (t.IsOperator("-") || t.IsOperator("+"))
        {
            Advance();
            node = Make(new UnaryExpression(t.Line, t.Column, t.Text, ParseUnary(withFilter: false)));
        }
        else
        {
            node = ParsePrimary();
        }

        node = ParsePostfix(node);
        if (withFilter)
        {
            node = ParseFilterExpression(node);
        }

        _expressionDepth--;
        return node;
    }

    private Expression ParsePrimary()
    {
        Token t = Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                Advance();
                return t.Text switch
                {
                    "true" or "True" => new LiteralExpression(t.Line, t.Column, true),
                    "false" or "False" => new LiteralExpression(t.Line, t.Column, false),
                    "none" or "None" => new LiteralExpression(t.Line, t.Column, null),
                    _ => new NameExpression(t.Line, t.Column, t.Text),
                };
            case TokenKind.String:
                string text = (string)Advance().Value!;
                while (Current.Kind == TokenKind.String)
                {
                    text += (string)Advance().Value!;
                }

                return new LiteralExpression(t.Line, t.Column, text);
            case TokenKind.Integer or TokenKind.Float:
                Advance();
                return new LiteralExpression(t.Line, t.Column, t.Value);
            case TokenKind.Operator when t.Text == "(":
                Advance();
                Expression inner = ParseTuple(explicitParentheses: true);
                Expect(")");
                return inner;
            case TokenKind.Operator when t.Text == "[":
                return ParseList();
            case TokenKind.Operator when t.Text == "{":
                return ParseDict();
            default:
                throw Error(t, $"unexpected {t.Describe()}");
        }
    }

    private ListExpression ParseList()
    {
        Token start = Expect("[");
        var items = new List<Expression>();
        while (!Current.IsOperator("]"))
        {
            if (items.Count > 0)
            {
                Expect(",");
                if (Current.IsOperator("]"))
                {
                    break;
                }
            }

            items.Add(ParseExpression());
        }

        Expect("]");
        return Make(new ListExpression(start.Line, start.Column, [.. items]));
    }

    private DictExpression ParseDict()
    {
        Token start = Expect("{");
        var keys = new List<Expression>();
        var values = new List<Expression>();
        while (!Current.IsOperator("}"))
        {
            if (keys.Count > 0)
            {
                Expect(",");
                if (Current.IsOperator("}"))
                {
                    break;
                }
            }

            keys.Add(ParseExpression());
            Expect(":");
            values.Add(ParseExpression());
        }

        Expect("}");
        return Make(new DictExpression(start.Line, start.Column, [.. keys], [.. values]));
    }

    private Expression ParsePostfix(Expression node)
    {
        while (true)
        {
            if (Current.IsOperator(".") || Current.IsOperator("["))
            {
                node = ParseSubscript(node);
            }
            else if (Current.IsOperator("("))
            {
                node = ParseCall(node);
            }
            else
            {
                return node;
            }
        }
    }

    private Expression ParseFilterExpression(Expression node)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
            {
                node = ParseFilters(node, startInline: false)!;
            }
            else if (Current.IsName("is"))
            {
                node = ParseTest(node);
            }
            else if (Current.IsOperator("("))
            {
                node = ParseCall(node);
            }
            else
            {
                return node;
            }
        }
    }

    private Expression ParseSubscript(Expression node)
    {
        Token t = Advance();
        if (t.Text == ".")
        {
            Token member = Current;
            if (member.Kind == TokenKind.Name)
            {
                Advance();
                return Make(new AttributeExpression(member.Line, member.Column, node, member.Text));
            }

            if (member.Kind == TokenKind.Integer)
            {
                Advance();
                return Make(new ItemExpression(member.Line, member.Column, node, new LiteralExpression(member.Line, member.Column, member.Value)));
            }

            throw Error(member, $"expected a name or number after '.', got {member.Describe()}");
        }

        var keys = new List<Expression>();
        while (!Current.IsOperator("]"))
        {
            if (keys.Count > 0)
            {
                Expect(",");
            }

            keys.Add(ParseSubscribed());
        }

        Expect("]");
        if (keys.Count == 0)
        {
            throw Error(t, "expected a subscript inside '[]'");
        }

        Expression key = keys.Count == 1 ? keys[0] : Make(new TupleExpression(t.Line, t.Column, [.. keys]));
        return Make(new ItemExpression(t.Line, t.Column, node, key));
    }

    private Expression ParseSubscribed()
    {
        Token start = Current;
        Expression? first = null;
        if (!Current.IsOperator(":"))
        {
            first = ParseExpression();
            if (!Current.IsOperator(":"))
            {
                return first;
            }
        }

        Advance();
        Expression? stop = null;
        Expression? step = null;
        if (!Current.IsOperator("]") && !Current.IsOperator(",") && !Current.IsOperator(":"))
        {
            stop = ParseExpression();
        }

        if (Current.IsOperator(":"))
        {
            Advance();
            if (!Current.IsOperator("]") && !Current.IsOperator(","))
            {
                step = ParseExpression();
            }
        }

        return Make(new SliceExpression(start.Line, start.Column, first, stop, step));
    }

    private CallExpression ParseCall(Expression callee)
    {
        Token t = Current;
        return Make(new CallExpression(t.Line, t.Column, callee, ParseArguments()));
    }

    private ArgumentList ParseArguments()
    {
        Expect("(");
        var positional = new List<Expression>();
        var named = new List<(string, Expression)>();
        while (!Current.IsOperator(")"))
        {
            if (positional.Count + named.Count > 0)
            {
                Expect(",");
                if (Current.IsOperator(")"))
                {
                    break;
                }
            }

            if (Current.IsOperator("*") || Current.IsOperator("**"))
            {
                throw Error(Current, "*args and **kwargs in calls are not supported");
            }

            if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                string name = Advance().Text;
                Advance();
                named.Add((name, ParseExpression()));
            }
            else
            {
                if (named.Count > 0)
                {
                    throw Error(Current, "positional argument follows keyword argument");
                }

                positional.Add(ParseExpression());
            }
        }

        Expect(")");
        return new ArgumentList([.. positional], [.. named]);
    }

    private Expression? ParseFilters(Expression? node, bool startInline)
    {
        while (Current.IsOperator("|") || startInline)
        {
            if (!startInline)
            {
                Advance();
            }

            startInline = false;
            Token nameToken = ExpectName();
            string name = nameToken.Text;
            while (Current.IsOperator("."))
            {
                Advance();
                name += "." + ExpectName().Text;
            }

            if (!TemplateFilters.Exists(name))
            {
                throw Error(nameToken, $"no filter named '{name}'");
            }

            ArgumentList arguments = Current.IsOperator("(") ? ParseArguments() : ArgumentList.None;
            node = Make(new FilterExpression(nameToken.Line, nameToken.Column, node, name, arguments));
        }

        return node;
    }

    private TestExpression ParseTest(Expression node)
    {
        Advance();
        bool negated = false;
        if (Current.IsName("not"))
        {
            Advance();
            negated = true;
        }

        Token nameToken = ExpectName();
        string name = nameToken.Text;
        while (Current.IsOperator("."))
        {
            Advance();
            name += "." + ExpectName().Text;
        }

        if (!TemplateTests.Exists(name))
        {
            throw Error(nameToken, $"no test named '{name}'");
        }

        ArgumentList arguments = ArgumentList.None;
        if (Current.IsOperator("("))
        {
            arguments = ParseArguments();
        }
        else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float ||
                  Current.IsOperator("[") || Current.IsOperator("{")) &&
                 !(Current.Kind == TokenKind.Name && Current.Text is "else" or "or" or "and"))
        {
            if (Current.IsName("is"))
            {
                throw Error(Current, "you cannot chain multiple tests with 'is'");
            }

            Expression argument = ParsePostfix(ParsePrimary());
            arguments = new ArgumentList([argument], []);
        }

        return Make(new TestExpression(nameToken.Line, nameToken.Column, node, name, arguments, negated));
    }
}
