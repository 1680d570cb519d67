using System.CommandLine;
using QuantSharp.Models;

namespace QuantSharp.Cli;

/// <summary>The options shared by <c>generate</c> and <c>chat</c>: sampling (each verb with its own defaults) and
/// load-time <c>--quantize</c>.</summary>
internal sealed class GenerationCliOptions
{
    private readonly Option<int> _maxTokens;
    private readonly Option<float> _temperature;
    private readonly Option<int> _topK;
    private readonly Option<float> _topP;
    private readonly Option<float> _penalty;
    private readonly Option<int> _seed;
    private readonly SchemeOptions _quantize = new("--quantize", required: false);

    public GenerationCliOptions(int maxTokens, float temperature, float topP)
    {
        _maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate at most.", DefaultValueFactory = _ => maxTokens };
        _temperature = new Option<float>("--temperature") { Description = "Sampling temperature; 0 = greedy (deterministic).", DefaultValueFactory = _ => temperature };
        _topK = new Option<int>("--top-k") { Description = "Sample among the k most likely tokens (0 = all).", DefaultValueFactory = _ => 0 };
        _topP = new Option<float>("--top-p") { Description = "Sample among the most likely tokens whose probability adds up to p (1 = all).", DefaultValueFactory = _ => topP };
        _penalty = new Option<float>("--repetition-penalty") { Description = "Penalise tokens already in the text (1 = off; 1.1 is typical).", DefaultValueFactory = _ => 1f };
        _seed = new Option<int>("--seed") { Description = "Random seed for sampling.", DefaultValueFactory = _ => 42 };
    }

    public void AddTo(Command command)
    {
        foreach (Option o in new Option[] { _maxTokens, _temperature, _topK, _topP, _penalty, _seed })
        {
            command.Add(o);
        }

        _quantize.AddTo(command);
    }

    /// <summary>How to load the model: quantized at load time when <c>--quantize</c> is given.</summary>
    public LoadOptions ReadLoad(ParseResult parse) => ModelOptions.LoadTimeQuantization(_quantize, parse);

    /// <summary>The options given, validated.</summary>
    public SamplingOptions Read(ParseResult parse)
    {
        var o = new SamplingOptions
        {
            MaxTokens = parse.GetValue(_maxTokens),
            Temperature = parse.GetValue(_temperature),
            TopK = parse.GetValue(_topK),
            TopP = parse.GetValue(_topP),
            RepetitionPenalty = parse.GetValue(_penalty),
            Seed = parse.GetValue(_seed),
        };
        if (o.MaxTokens < 1) throw new UsageException($"--max-tokens {o.MaxTokens} must be at least 1");
        if (o.Temperature < 0) throw new UsageException($"--temperature {o.Temperature} must not be negative");
        if (o.TopK < 0) throw new UsageException($"--top-k {o.TopK} must not be negative");
        if (o.TopP is <= 0 or > 1) throw new UsageException($"--top-p {o.TopP} must be in (0, 1]");
        if (o.RepetitionPenalty <= 0) throw new UsageException($"--repetition-penalty {o.RepetitionPenalty} must be positive");
        return o;
    }
}
