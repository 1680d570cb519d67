using System.Text;

namespace QuantSharp.Templates;

/// <summary>
/// Walks a parsed template and writes its output, with Jinja's scoping (a child scope per loop iteration and macro
/// call) and the limits of <see cref="TemplateLimits"/>. One instance renders once.
/// </summary>
internal sealed class TemplateRenderer
{
    private long _steps;
    private int _callDepth;

    private enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    /// <summary>Renders <paramref name="body"/> with <paramref name="globals"/> as the outermost scope.</summary>
    /// <exception cref="TemplateRuntimeException">Any runtime error, located at the innermost expression.</exception>
    public string Render(Statement[] body, Scope globals)
    {
        var output = new StringBuilder();
        Execute(body, new Scope(globals), output);
        return output.ToString();
    }

    private Flow Execute(Statement[] body, Scope scope, StringBuilder output)
    {
        foreach (Statement statement in body)
        {
            Flow flow = ExecuteOne(statement, scope, output);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }

        return Flow.Normal;
    }

    private Flow ExecuteOne(Statement statement, Scope scope, StringBuilder output)
    {
        try
        {
            RuntimeHelpers.EnsureSufficientExecutionStack();
            switch (statement)
            {
                case TextStatement text:
                    Append(output, text.Text);
                    return Flow.Normal;
                case OutputStatement print:
                    Append(output, TemplateValues.ToStr(Evaluate(print.Value, scope)));
                    return Flow.Normal;
                case IfStatement conditional:
                    foreach ((Expression test, Statement[] branch) in conditional.Branches)
                    {
                        if (TemplateValues.IsTruthy(Evaluate(test, scope)))
                        {
                            return Execute(branch, scope, output);
                        }
                    }

                    return conditional.Otherwise is null ? Flow.Normal : Execute(conditional.Otherwise, scope, output);
                case ForStatement loop:
                    return ExecuteFor(loop, scope, output);
                case LoopControlStatement control:
                    return control.IsBreak ? Flow.Break : Flow.Continue;
                case SetStatement set:
                    Assign(set.Target, Evaluate(set.Value, scope), scope);
                    return Flow.Normal;
                case SetBlockStatement setBlock:
                    var captured = new StringBuilder();
                    Execute(setBlock.Body, scope, captured);
                    object? value = captured.ToString();
                    if (setBlock.Filter is not null)
                    {
                        value = ApplyFilterChain(setBlock.Filter, value, scope);
                    }

                    Assign(setBlock.Target, value, scope);
                    return Flow.Normal;
                case MacroStatement macro:
                    scope.Set(macro.Name, new TemplateMacro(macro, scope));
                    return Flow.Normal;
                case CallBlockStatement callBlock:
                    object? callee = Evaluate(callBlock.Call.Callee, scope);
                    CallArguments callArguments = EvaluateArguments(callBlock.Call.Arguments, scope);
                    Append(output, TemplateValues.ToStr(Invoke(callee, callArguments, new TemplateMacro(callBlock.Caller, scope))));
                    return Flow.Normal;
                case FilterBlockStatement filterBlock:
                    var body = new StringBuilder();
                    Execute(filterBlock.Body, scope, body);
                    Append(output, TemplateValues.ToStr(ApplyFilterChain(filterBlock.Filter, body.ToString(), scope)));
                    return Flow.Normal;
                case ScopedBlockStatement scoped:
                    Scope inner = scoped.NewScope ? new Scope(scope) : scope;
                    foreach ((AssignTarget target, object? assigned) in scoped.Assignments.Select(a => (a.Target, Evaluate(a.Value, scope))).ToList())
                    {
                        Assign(target, assigned, inner);
                    }

                    return Execute(scoped.Body, inner, output);
                default:
                    throw new TemplateRuntimeException($"unsupported statement {statement.GetType().Name}");
            }
        }
        catch (TemplateRuntimeException e) when (e.Line == 0)
        {
            e.Line = statement.Line;
            e.Column = statement.Column;
            throw;
        }
    }

    private static void Append(StringBuilder output, string text)
    {
        if ((long)output.Length + text.Length > TemplateLimits.MaxOutputLength)
        {
            throw new TemplateRuntimeException(
                $"rendered output exceeds the limit of {TemplateLimits.MaxOutputLength} characters");
        }

        output.Append(text);
    }

    private void Step()
    {
        if (++_steps > TemplateLimits.MaxSteps)
        {
            throw new TemplateRuntimeException(
                $"template exceeded the limit of {TemplateLimits.MaxSteps} loop iterations and macro calls");
        }
    }

    private Flow ExecuteFor(ForStatement loop, Scope scope, StringBuilder output)
    {
        IReadOnlyList<object?> source = TemplateValues.Iterate(Evaluate(loop.Iterable, scope));
        IReadOnlyList<object?> items = source;
        if (loop.Filter is not null)
        {
            var kept = new List<object?>();
            foreach (object? item in source)
            {
                Step();
                var test = new Scope(scope);
                Assign(loop.Target, item, test);
                if (TemplateValues.IsTruthy(Evaluate(loop.Filter, test)))
                {
                    kept.Add(item);
                }
            }

            items = kept;
        }

        if (items.Count == 0)
        {
            return loop.Otherwise is null ? Flow.Normal : Execute(loop.Otherwise, scope, output);
        }

        var context = new LoopContext(items, 0);
        for (int i = 0; i < items.Count; i++)
        {
            Step();
            var iteration = new Scope(scope);
            context.Index0 = i;
            iteration.Set("loop", context);
            Assign(loop.Target, items[i], iteration);
            if (Execute(loop.Body, iteration, output) == Flow.Break)
            {
                break;
            }
        }

        return Flow.Normal;
    }

    private static void Assign(AssignTarget target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameTarget name:
                scope.Set(name.Name, value);
                break;
            case TupleTarget tuple:
                IReadOnlyList<object?> values = TemplateValues.Iterate(value);
                if (values.Count != tuple.Items.Length)
                {
                    throw new TemplateRuntimeException(values.Count > tuple.Items.Length
                        ? $"too many values to unpack (expected {tuple.Items.Length})"
                        : $"not enough values to unpack (expected {tuple.Items.Length}, got {values.Count})");
                }

                for (int i = 0; i < values.Count; i++)
                {
                    Assign(tuple.Items[i], values[i], scope);
                }

                break;
            case NamespaceTarget ns:
                if (!scope.TryGet(ns.Name, out object? holder) || holder is not TemplateNamespace space)
                {
                    throw new TemplateRuntimeException($"cannot assign attribute on non-namespace object '{ns.Name}'");
                }

                space.Attributes[ns.Attribute] = value;
                break;
        }
    }

    private object? Evaluate(Expression expression, Scope scope)
    {
        try
        {
            RuntimeHelpers.EnsureSufficientExecutionStack();
            return EvaluateCore(expression, scope);
        }
        catch (TemplateRuntimeException e) when (e.Line == 0)
        {
            e.Line = expression.Line;
            e.Column = expression.Column;
            throw;
        }
    }

    private object? EvaluateCore(Expression expression, Scope scope)
    {
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case NameExpression name:
                return scope.TryGet(name.Name, out object? value) ? value : Undefined.ForName(name.Name);
            case ListExpression list:
                return list.Items.Select(item => Evaluate(item, scope)).ToList();
            case TupleExpression tuple:
                return tuple.Items.Select(item => Evaluate(item, scope)).ToArray();
            case DictExpression dict:
                OrderedDictionary<object, object?> result = TemplateValues.NewDict();
                for (int i = 0; i < dict.Keys.Length; i++)
                {
                    object key = Evaluate(dict.Keys[i], scope) ?? throw new TemplateRuntimeException("none is not supported as a dict key");
                    result[key] = Evaluate(dict.Values[i], scope);
                }

                return result;
            case UnaryExpression unary:
                object? operand = Evaluate(unary.Operand, scope);
                return unary.Operator switch
                {
                    "not" => !TemplateValues.IsTruthy(operand),
                    "-" => PyOperators.Negate(operand),
                    _ => PyOperators.Positive(operand),
                };
            case BinaryExpression binary:
                object? left = Evaluate(binary.Left, scope);
                return binary.Operator switch
                {
                    "and" => TemplateValues.IsTruthy(left) ? Evaluate(binary.Right, scope) : left,
                    "or" => TemplateValues.IsTruthy(left) ? left : Evaluate(binary.Right, scope),
                    _ => PyOperators.Binary(binary.Operator, left, Evaluate(binary.Right, scope)),
                };
            case ConcatExpression concat:
                var sb = new StringBuilder();
                foreach (Expression part in concat.Operands)
                {
                    sb.Append(TemplateValues.ToStr(Evaluate(part, scope)));
                    TemplateValues.CheckLength(sb.Length);
                }

                return sb.ToString();
            case CompareExpression compare:
                object? current = Evaluate(compare.First, scope);
                foreach ((string op, Expression next) in compare.Rest)
                {
                    object? right = Evaluate(next, scope);
                    if (!PyOperators.Compare(op, current, right))
                    {
                        return false;
                    }

                    current = right;
                }

                return true;
            case ConditionalExpression conditional:
                if (TemplateValues.IsTruthy(Evaluate(conditional.Test, scope)))
                {
                    return Evaluate(conditional.Then, scope);
                }

                return conditional.Otherwise is null
                    ? Undefined.WithHint($"the inline if-expression on line {conditional.Line} evaluated to false and no else section was defined.")
                    : Evaluate(conditional.Otherwise, scope);
            case AttributeExpression attribute:
                return TemplateMembers.GetAttribute(Evaluate(attribute.Target, scope), attribute.Name);
            case ItemExpression item:
                object? target = Evaluate(item.Target, scope);
                if (item.Key is SliceExpression slice)
                {
                    return TemplateMembers.Slice(target, EvaluateOptional(slice.Start, scope),
                        EvaluateOptional(slice.Stop, scope), EvaluateOptional(slice.Step, scope));
                }

                return TemplateMembers.GetItem(target, Evaluate(item.Key, scope));
            case CallExpression call:
                object? callee = Evaluate(call.Callee, scope);
                return Invoke(callee, EvaluateArguments(call.Arguments, scope), caller: null);
            case FilterExpression filter:
                return ApplyFilterChain(filter, null, scope);
            case TestExpression test:
                bool passed = TemplateTests.Apply(test.Name, Evaluate(test.Value, scope), EvaluateArguments(test.Arguments, scope));
                return passed != test.Negated;
            case SliceExpression:
                throw new TemplateRuntimeException("a slice is only allowed inside []");
            default:
                throw new TemplateRuntimeException($"unsupported expression {expression.GetType().Name}");
        }
    }

    private object? EvaluateOptional(Expression? expression, Scope scope) =>
        expression is null ? null : Evaluate(expression, scope);

    /// <summary>Applies a filter (and the filters it is chained onto); a null innermost value means <paramref name="input"/>.</summary>
    private object? ApplyFilterChain(FilterExpression filter, object? input, Scope scope)
    {
        object? value = filter.Value switch
        {
            null => input,
            FilterExpression inner when input is not null => ApplyFilterChain(inner, input, scope),
            Expression e => Evaluate(e, scope),
        };
        try
        {
            return TemplateFilters.Apply(filter.Name, value, EvaluateArguments(filter.Arguments, scope));
        }
        catch (TemplateRuntimeException e) when (e.Line == 0)
        {
            e.Line = filter.Line;
            e.Column = filter.Column;
            throw;
        }
    }

    private CallArguments EvaluateArguments(ArgumentList arguments, Scope scope)
    {
        if (arguments.Positional.Length == 0 && arguments.Named.Length == 0)
        {
            return CallArguments.Empty;
        }

        return new CallArguments(
            arguments.Positional.Select(a => Evaluate(a, scope)).ToList(),
            arguments.Named.Select(n => new KeyValuePair<string, object?>(n.Name, Evaluate(n.Value, scope))).ToList());
    }

    private object? Invoke(object? callee, CallArguments arguments, TemplateMacro? caller) => callee switch
    {
        BuiltinFunction function => function.Invoke(arguments),
        BoundMethod method => TemplateMethods.Invoke(method.Target, method.Name, arguments),
        TemplateMacro macro => CallMacro(macro, arguments, caller),
        Undefined undefined => throw undefined.Fail(),
        _ => throw new TemplateRuntimeException($"'{TemplateValues.TypeName(callee)}' object is not callable"),
    };

    private string CallMacro(TemplateMacro macro, CallArguments arguments, TemplateMacro? caller)
    {
        MacroStatement definition = macro.Definition;
        if (_callDepth >= TemplateLimits.MaxCallDepth)
        {
            throw new TemplateRuntimeException(
                $"macro '{definition.Name}': calls nest deeper than {TemplateLimits.MaxCallDepth} levels");
        }

        Step();
        var scope = new Scope(macro.Closure);
        MacroParameter[] parameters = definition.Parameters;
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < parameters.Length; i++)
        {
            MacroParameter parameter = parameters[i];
            object? value;
            if (i < arguments.Positional.Count)
            {
                value = arguments.Positional[i];
            }
            else if (arguments.TryGet(-1, parameter.Name, out object? named))
            {
                value = named;
                consumed.Add(parameter.Name);
            }
            else
            {
                value = parameter.Default is null ? Undefined.ForName(parameter.Name) : Evaluate(parameter.Default, scope);
            }

            scope.Set(parameter.Name, value);
        }

        scope.Set("varargs", arguments.Positional.Skip(parameters.Length).ToArray());
        OrderedDictionary<object, object?> extra = TemplateValues.NewDict();
        foreach (KeyValuePair<string, object?> pair in arguments.Named.Where(p => !consumed.Contains(p.Key)))
        {
            extra[pair.Key] = pair.Value;
        }

        scope.Set("kwargs", extra);
        if (caller is not null)
        {
            scope.Set("caller", caller);
        }

        var output = new StringBuilder();
        _callDepth++;
        try
        {
            Execute(definition.Body, scope, output);
        }
        finally
        {
            _callDepth--;
        }

        return output.ToString();
    }
}
