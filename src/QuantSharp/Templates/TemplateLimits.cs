namespace QuantSharp.Templates;

/// <summary>
/// Bounds on the work one render may do. A chat template is code from a downloaded file, so each limit turns a
/// hostile or broken template into a <see cref="ChatTemplateException"/> instead of a hang, an out-of-memory or a
/// stack overflow.
/// </summary>
internal static class TemplateLimits
{
    /// <summary>Characters of rendered output, and of any single string or list a template builds.</summary>
    public const int MaxOutputLength = 8 * 1024 * 1024;

    /// <summary>Loop iterations plus macro calls over one render: real templates need a few hundred.</summary>
    public const long MaxSteps = 1_000_000;

    /// <summary>Nested macro calls (recursion included).</summary>
    public const int MaxCallDepth = 64;

    /// <summary>Nesting of blocks and of expressions in the source; deeper input is rejected at parse time.</summary>
    public const int MaxNestingDepth = 256;

    /// <summary>Elements of a list built by <c>range</c>, repetition or concatenation.</summary>
    public const int MaxListLength = 1_000_000;
}
