using System.CommandLine;
using QuantSharp.Calibration;
using QuantSharp.Formats;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Cli;

/// <summary>
/// The calibration options (<c>--method --calib --calib-samples --calib-len --damp --act-order --plan</c>), shared by
/// <c>plan</c>, <c>calib-report</c> and (when merged) <c>quantize</c>: add <see cref="AddTo"/>'s options to a command,
/// then <see cref="Read"/> them and call <see cref="LoadData"/> / <see cref="Options"/>.
/// </summary>
internal sealed class CalibrationCliOptions
{
    public Option<string> Method { get; } = new("--method") { Description = "rtn | gptq | awq (default rtn).", DefaultValueFactory = _ => "rtn" };

    public Option<string> Calib { get; } = new("--calib") { Description = "Calibration text file (e.g. ../shared/data/wikitext-2-tokens/valid.txt), or 'self' for data-free calibration (a decoder samples its own sequences from BOS; an encoder gets [CLS] … [SEP] sequences of tokens drawn from a Zipf prior over its vocabulary).", DefaultValueFactory = _ => "self" };

    public Option<int> Samples { get; } = new("--calib-samples") { Description = "Calibration sequences.", DefaultValueFactory = _ => 128 };

    public Option<int> Length { get; } = new("--calib-len") { Description = "Tokens per calibration sequence, BOS included (capped at the model's context).", DefaultValueFactory = _ => 256 };

    public Option<int> Seed { get; } = new("--calib-seed") { Description = "Seed for drawing text windows / sampling self-generated sequences.", DefaultValueFactory = _ => 1234 };

    public Option<float> Temperature { get; } = new("--calib-temperature") { Description = "Sampling temperature of --calib self.", DefaultValueFactory = _ => 1.0f };

    public Option<double> Damp { get; } = new("--damp") { Description = "GPTQ dampening, a fraction of the Hessian's mean diagonal.", DefaultValueFactory = _ => 0.01 };

    public Option<bool> ActOrder { get; } = new("--act-order") { Description = "GPTQ: quantize columns by descending Hessian diagonal (stores g_idx)." };

    public Option<bool> GridSearch { get; } = new("--grid-search") { Description = "GPTQ: fit each int4/int3/int2 group's grid by a clipping search weighted by the Hessian diagonal instead of min/max (lower error at 2–3 bits)." };

    public Option<bool> ExcludeBos { get; } = new("--calib-exclude-bos") { Description = "Leave position 0 (BOS) of every calibration sequence out of the GPTQ Hessians and AWQ statistics." };

    public Option<string?> Plan { get; } = new("--plan") { Description = "plan.json from 'quantsharp plan': one scheme per layer (overrides --scheme)." };

    public IEnumerable<Option> All => [Method, Calib, Samples, Length, Seed, Temperature, Damp, ActOrder, GridSearch, ExcludeBos, Plan];

    public void AddTo(Command command)
    {
        foreach (Option o in All)
        {
            command.Options.Add(o);
        }
    }

    public static QuantMethod ParseMethod(string text) => text.ToLowerInvariant() switch
    {
        "rtn" => QuantMethod.Rtn,
        "gptq" => QuantMethod.Gptq,
        "awq" => QuantMethod.Awq,
        _ => throw new UsageException($"--method '{text}' is not rtn, gptq or awq"),
    };

    /// <summary>Validates the numbers and builds the calibration data (text windows or self-generated).</summary>
    public CalibrationData LoadData(ParseResult parse, LoadedModel loaded, string? calibOverride = null, int? samplesOverride = null, int? lengthOverride = null)
    {
        int samples = samplesOverride ?? parse.GetValue(Samples);
        int length = Math.Min(lengthOverride ?? parse.GetValue(Length), loaded.Model.Config.MaxPositions);
        if (samples < 1 || length < 2)
        {
            throw new UsageException($"--calib-samples {samples} and --calib-len {length} must be ≥ 1 and ≥ 2");
        }

        string calib = calibOverride ?? parse.GetValue(Calib)!;
        int seed = parse.GetValue(Seed);
        bool encoder = loaded.Model.Spec.IsEncoder;
        if (calib == "self" && encoder)
        {
            return CalibrationData.Unigram(loaded.RequireTokenizer(), samples, length, seed);
        }

        if (calib == "self")
        {
            var progress = new StderrProgress("self-calibration");
            int bos = loaded.Tokenizer?.BosId ?? loaded.Model.Config.BosTokenId ?? throw new QuantSharpException("--calib self needs a BOS token id");
            return CalibrationData.SelfGenerated(loaded.Model, bos, samples, length, parse.GetValue(Temperature), seed, (d, t) => progress.Report(d, t, "sequences"));
        }

        if (!File.Exists(calib))
        {
            throw new UsageException($"--calib {calib}: file not found (give a text file or 'self')");
        }

        return CalibrationData.FromText(loaded.RequireTokenizer(), File.ReadAllText(calib), samples, length, seed, calib, encoder);
    }

    /// <summary>The scheme of each layer: from --plan when given, else <paramref name="scheme"/> for all; null for a layer
    /// outside <paramref name="selected"/> (kept as stored).</summary>
    public Func<string, QuantSpec?> SpecFor(ParseResult parse, QuantSpec scheme, IReadOnlySet<string>? selected = null)
    {
        string? plan = parse.GetValue(Plan);
        Func<string, QuantSpec> specFor = plan is null ? _ => scheme : QuantPlan.Load(plan).SpecFor;
        return name => selected is null || selected.Contains(name) ? specFor(name) : null;
    }

    /// <summary>
    /// The whole step the quantize verb needs: RTN without data (unless --calib was given explicitly with --method rtn,
    /// which only adds per-layer losses), else calibration data, then GPTQ/AWQ. Returns the quantized model and, for
    /// calibrated runs, the result with per-layer losses, replaced norm tensors, time and peak memory. Layers outside
    /// <paramref name="selected"/> (when given) stay as stored.
    /// </summary>
    public (TransformerModel Model, CalibratedResult? Result) Quantize(ParseResult parse, LoadedModel loaded, QuantSpec scheme, IReadOnlySet<string>? selected = null)
    {
        QuantMethod method = ParseMethod(parse.GetValue(Method)!);
        Func<string, QuantSpec?> specFor = SpecFor(parse, scheme, selected);
        if (method == QuantMethod.Rtn)
        {
            return (CalibratedQuantization.QuantizeRtn(loaded.Model, specFor), null);
        }

        CalibrationData data = LoadData(parse, loaded);
        var progress = new StderrProgress(method.ToString().ToLowerInvariant());
        CalibratedResult result = CalibratedQuantization.Run(loaded.Model, data, specFor, method, Options(parse, (d, t, m) => progress.Report(d, t, m)));
        return (result.Model, result);
    }

    public CalibrationOptions Options(ParseResult parse, Action<int, int, string>? progress = null)
    {
        double damp = parse.GetValue(Damp);
        if (!(damp >= 0) || damp > 10)
        {
            throw new UsageException($"--damp {damp} must be between 0 and 10");
        }

        return new CalibrationOptions
        {
            Gptq = new GptqOptions { Damp = damp, ActOrder = parse.GetValue(ActOrder), GridSearch = parse.GetValue(GridSearch) },
            ExcludeFirstPosition = parse.GetValue(ExcludeBos),
            Progress = progress,
        };
    }
}
