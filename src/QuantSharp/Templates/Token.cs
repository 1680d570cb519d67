namespace QuantSharp.Templates;

/// <summary>What a <see cref="Token"/> is.</summary>
internal enum TokenKind
{
    /// <summary>Literal text to output as is.</summary>
    Data,

    /// <summary><c>{{</c>.</summary>
    VariableBegin,

    /// <summary><c>}}</c>.</summary>
    VariableEnd,

    /// <summary><c>{%</c>.</summary>
    BlockBegin,

    /// <summary><c>%}</c>.</summary>
    BlockEnd,

    /// <summary>An identifier or keyword.</summary>
    Name,

    /// <summary>A string literal; <see cref="Token.Value"/> is the unescaped string.</summary>
    String,

    /// <summary>An integer literal; <see cref="Token.Value"/> is a <see cref="long"/>.</summary>
    Integer,

    /// <summary>A float literal; <see cref="Token.Value"/> is a <see cref="double"/>.</summary>
    Float,

    /// <summary>Punctuation or an operator; <see cref="Token.Text"/> is its spelling.</summary>
    Operator,

    /// <summary>End of the source.</summary>
    End,
}

/// <summary>One lexical token with its 1-based position in the (newline-normalized) source.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Column, object? Value = null)
{
    public bool IsOperator(string text) => Kind == TokenKind.Operator && Text == text;

    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    /// <summary>How an error message names this token.</summary>
    public string Describe() => Kind switch
    {
        TokenKind.End => "end of template",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableBegin => "begin of print statement",
        TokenKind.BlockBegin => "begin of statement block",
        TokenKind.Data => "template data",
        _ => $"'{Text}'",
    };
}
