using System.CommandLine;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Cli;

/// <summary>The scheme options shared by <c>quantize</c> (<c>--scheme</c>) and by <c>generate</c>/<c>perplexity</c> (<c>--quantize</c>, load-time).</summary>
internal sealed class SchemeOptions
{
    private const string SchemeHelp = "int8 | int4 | int3 | int2 | nf4 | fp4 | ternary | iq2_xs | iq2_s | iq3_xxs | iq3_s | bf16, or a canonical name such as int4-g32-sym, nf4-dq, ternary-g64. The iq* schemes are llama.cpp's lattice codebooks (2.31, 2.56, 3.06, 3.44 bits per weight; rows a multiple of 256), best with --imatrix.";

    public SchemeOptions(string schemeOption, bool required)
    {
        Scheme = new Option<string?>(schemeOption) { Description = SchemeHelp, Required = required };
        GroupSize = new Option<int?>("--group-size") { Description = "int4 group size (32, 64, 128…; default 128) or ternary group size (selects per-group scales)." };
        Sym = new Option<bool>("--sym") { Description = "int4: symmetric (no zero point); default asymmetric." };
        DoubleQuant = new Option<bool>("--double-quant") { Description = "nf4/fp4: quantize the block absmax values to 8 bits (blocks of 256)." };
        Granularity = new Option<string?>("--ternary-granularity") { Description = "ternary: one scale per tensor, row (default) or group." };
        Granularity.AcceptOnlyFromAmong("tensor", "row", "group");
        Include = new Option<string[]>("--include")
        {
            Description = "Quantize exactly the 2-D float tensors matching these patterns (replaces the default selection). Glob on the whole name (* any characters, ? one), or re:REGEX.",
            AllowMultipleArgumentsPerToken = true,
        };
        Exclude = new Option<string[]>("--exclude") { Description = "Leave tensors matching these patterns as stored (same syntax as --include).", AllowMultipleArgumentsPerToken = true };
    }

    public Option<string?> Scheme { get; }

    public Option<int?> GroupSize { get; }

    public Option<bool> Sym { get; }

    public Option<bool> DoubleQuant { get; }

    public Option<string?> Granularity { get; }

    public Option<string[]> Include { get; }

    public Option<string[]> Exclude { get; }

    public IEnumerable<Option> All => [Scheme, GroupSize, Sym, DoubleQuant, Granularity, Include, Exclude];

    public void AddTo(Command command)
    {
        foreach (Option o in All)
        {
            command.Add(o);
        }
    }

    /// <summary>The chosen format, or null when no scheme was given (then no other scheme option may be).</summary>
    public WeightFormat? Resolve(ParseResult parse)
    {
        string? scheme = parse.GetValue(Scheme);
        if (scheme is null)
        {
            if (parse.GetValue(GroupSize) is not null || parse.GetValue(Sym) || parse.GetValue(DoubleQuant) || parse.GetValue(Granularity) is not null
                || Patterns(parse, Include).Length > 0 || Patterns(parse, Exclude).Length > 0)
            {
                throw new UsageException($"--group-size, --sym, --double-quant, --ternary-granularity, --include and --exclude need {Scheme.Name}");
            }

            return null;
        }

        TernaryGranularity? granularity = parse.GetValue(Granularity) switch
        {
            "tensor" => TernaryGranularity.PerTensor,
            "row" => TernaryGranularity.PerRow,
            "group" => TernaryGranularity.PerGroup,
            _ => null,
        };
        try
        {
            return WeightFormat.Parse(scheme, parse.GetValue(GroupSize), parse.GetValue(Sym), parse.GetValue(DoubleQuant), granularity);
        }
        catch (QuantSharpException e)
        {
            throw new UsageException(e.Message);
        }
    }

    public string[] IncludePatterns(ParseResult parse) => Patterns(parse, Include);

    public string[] ExcludePatterns(ParseResult parse) => Patterns(parse, Exclude);

    private static string[] Patterns(ParseResult parse, Option<string[]> option) => parse.GetValue(option) ?? [];
}
