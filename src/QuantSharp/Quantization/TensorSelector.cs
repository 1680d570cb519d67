using System.Text;
using System.Text.RegularExpressions;
using QuantSharp.Tensors;

namespace QuantSharp.Quantization;

/// <summary>
/// Decides which tensors of a checkpoint are quantized.
/// <list type="bullet">
/// <item>Only <em>quantizable</em> tensors are ever selected: 2-D F32/F16/BF16.</item>
/// <item>Default (no include pattern): the names in <c>defaultNames</c> when the architecture is known (every linear
/// weight inside the transformer blocks), otherwise every quantizable tensor whose name ends in <c>.weight</c> and none
/// of whose dot-separated parts mentions <c>embed</c> or <c>norm</c> or is <c>lm_head</c>/<c>wte</c>/<c>wpe</c>
/// (so embeddings, norms and the LM head stay as stored).</item>
/// <item>Include patterns replace the default: exactly the quantizable tensors matching one of them are selected.
/// Exclude patterns then remove tensors.</item>
/// <item>Pattern syntax: a glob matched against the whole tensor name, where <c>*</c> is any run of characters
/// (dots included) and <c>?</c> one character, e.g. <c>*.mlp.*</c>, <c>model.layers.0.*</c>; or, with a <c>re:</c>
/// prefix, a .NET regular expression that must match the whole name, e.g. <c>re:.*\.(q|k|v)_proj\.weight</c>.</item>
/// </list>
/// </summary>
public sealed class TensorSelector
{
    private readonly (string Text, Regex Regex)[] _include;
    private readonly (string Text, Regex Regex)[] _exclude;
    private readonly IReadOnlySet<string>? _defaultNames;

    private TensorSelector((string, Regex)[] include, (string, Regex)[] exclude, IReadOnlySet<string>? defaultNames)
    {
        _include = include;
        _exclude = exclude;
        _defaultNames = defaultNames;
    }

    /// <summary>Builds a selector.</summary>
    /// <param name="include">Patterns that replace the default selection (null or empty: use the default).</param>
    /// <param name="exclude">Patterns removed from the selection.</param>
    /// <param name="defaultNames">Default selection for a known architecture (its block linear weights); null: the name rule.</param>
    /// <exception cref="QuantSharpException">A <c>re:</c> pattern is not a valid regular expression.</exception>
    public static TensorSelector Create(IEnumerable<string>? include = null, IEnumerable<string>? exclude = null, IEnumerable<string>? defaultNames = null)
        => new(Compile(include), Compile(exclude), defaultNames?.ToHashSet(StringComparer.Ordinal));

    /// <summary>True when the default comes from a known architecture rather than the name rule.</summary>
    public bool UsesArchitecture => _defaultNames is not null;

    /// <summary>A 2-D F32/F16/BF16 tensor.</summary>
    public static bool IsQuantizable(TensorView view) => view.Shape.Length == 2 && DTypeInfo.IsFloat(view.DType) && view.Shape[0] > 0 && view.Shape[1] > 0;

    /// <summary>The default rule for unknown architectures (see the class remarks): a <c>.weight</c> that is not an embedding, norm or LM head.</summary>
    public static bool LooksLikeLinearWeight(string name)
    {
        if (!name.EndsWith(".weight", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (string part in name.Split('.'))
        {
            if (part.Contains("embed", StringComparison.OrdinalIgnoreCase) || part.Contains("norm", StringComparison.OrdinalIgnoreCase)
                || part is "lm_head" or "wte" or "wpe")
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether <paramref name="view"/> (named <paramref name="name"/>) is selected.</summary>
    public bool IsSelected(string name, TensorView view)
    {
        if (!IsQuantizable(view))
        {
            return false;
        }

        bool chosen = _include.Length > 0
            ? _include.Any(p => p.Regex.IsMatch(name))
            : _defaultNames?.Contains(name) ?? LooksLikeLinearWeight(name);
        return chosen && !_exclude.Any(p => p.Regex.IsMatch(name));
    }

    /// <summary>The selected tensor names, in ordinal order.</summary>
    /// <exception cref="QuantSharpException">An include pattern matches no quantizable tensor (a typo would otherwise quantize nothing silently).</exception>
    public IReadOnlyList<string> Select(IReadOnlyDictionary<string, TensorView> tensors)
    {
        foreach ((string text, Regex regex) in _include)
        {
            if (!tensors.Any(t => IsQuantizable(t.Value) && regex.IsMatch(t.Key)))
            {
                throw new QuantSharpException($"--include '{text}' matches no 2-D F32/F16/BF16 tensor of the checkpoint");
            }
        }

        return tensors.Where(t => IsSelected(t.Key, t.Value)).Select(t => t.Key).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Turns a glob into an anchored regular expression (<c>*</c> → <c>.*</c>, <c>?</c> → <c>.</c>).</summary>
    internal static string GlobToRegex(string glob)
    {
        var sb = new StringBuilder("^");
        foreach (char c in glob)
        {
            sb.Append(c switch
            {
                '*' => ".*",
                '?' => ".",
                _ => Regex.Escape(c.ToString()),
            });
        }

        return sb.Append('$').ToString();
    }

    private static (string, Regex)[] Compile(IEnumerable<string>? patterns)
    {
        if (patterns is null)
        {
            return [];
        }

        var list = new List<(string, Regex)>();
        foreach (string p in patterns)
        {
            if (string.IsNullOrWhiteSpace(p))
            {
                throw new QuantSharpException("an empty --include/--exclude pattern");
            }

            try
            {
                string regex = p.StartsWith("re:", StringComparison.Ordinal) ? $"^(?:{p[3..]})$" : GlobToRegex(p);
                list.Add((p, new Regex(regex, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1))));
            }
            catch (ArgumentException e)
            {
                throw new QuantSharpException($"pattern '{p}' is not a valid regular expression ({e.Message})", e);
            }
        }

        return [.. list];
    }
}
