using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using QuantSharp.Evaluation;
using QuantSharp.Models;
using QuantSharp.Quantization;

namespace QuantSharp.Cli;

/// <summary><c>quantsharp fidelity</c>: what quantization cost a model, measured against the unquantized one on the same inputs.</summary>
internal static class FidelityCommand
{
    public static Command Create()
    {
        var reference = new Argument<string>("reference") { Description = "The unquantized model (checkpoint folder or GGUF file)." };
        var candidate = new Argument<string?>("quantized") { Description = "The quantized model to judge; omit it and give --scheme to quantize the reference on the fly.", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<string>("--file", "-f") { Description = "Text: decoders score it as perplexity does (windows of --ctx); encoders take one text per line (lines of more than --min-words words, duplicates dropped).", Required = true };
        var maxTexts = new Option<int>("--max-texts") { Description = "Encoders: compare at most this many texts (0 = all).", DefaultValueFactory = _ => 0 };
        var minWords = new Option<int>("--min-words") { Description = "Encoders: keep lines with more than this many words.", DefaultValueFactory = _ => 5 };
        var pairs = new Option<string?>("--pairs") { Description = "Encoders: a JSON file with 'sentences' [{text}] and 'pairs' {paraphrase: [{a, b}], unrelated: [{a, b}]} (as all-MiniLM-L6-v2/reference.json); reports how often paraphrase pairs stay above unrelated pairs." };
        var layer = new Option<int?>("--layer") { Description = "Encoders and text-encoder use: hidden state to compare (Hugging Face indexing; default -1, ChatGLM3 in Kolors: -2)." };
        var perLayer = new Option<bool>("--per-layer") { Description = "Encoders: show the relative L2 error of every hidden state." };
        var ctx = new Option<int>("--ctx", "-c") { Description = "Decoders: window length in tokens, BOS included (default: the smaller of 512 and the model's context).", DefaultValueFactory = _ => 0 };
        var maxWindows = new Option<int>("--max-windows") { Description = "Decoders: compare at most this many windows (0 = all).", DefaultValueFactory = _ => 0 };
        var secondHalf = new Option<bool>("--second-half") { Description = "Decoders: score only the second half of each window." };
        var protocol = CliOptions.Protocol();
        var json = CliOptions.Json();
        var threads = CliOptions.Threads();
        var command = new Command("fidelity", "Measure what quantization costs a model against its unquantized reference, on the same inputs.\n"
            + "Decoders: perplexity of both, KL(reference ‖ quantized) of the next-token distributions (mean, p99), top-1 agreement.\n"
            + "Encoders: cosine of the sentence embeddings (mean, p1, min), recall@10 of each text's nearest neighbours among all texts,\n"
            + "relative L2 error per hidden state, and (with --pairs) how often paraphrase pairs stay ranked above unrelated ones.\n"
            + "Example: quantsharp fidelity ../shared/models/all-MiniLM-L6-v2 /tmp/minilm-int4 --file ../shared/data/wikitext-2-raw/wiki.test.raw --max-texts 2000\n"
            + "Example: quantsharp fidelity ../shared/models/brown-llama --scheme int3 --method gptq --calib ../shared/data/wikitext-2-tokens/valid.txt --file ../shared/models/brown-llama/heldout.txt")
        {
            reference, candidate, file, maxTexts, minWords, pairs, layer, perLayer, ctx, maxWindows, secondHalf, protocol, json, threads,
        };
        var scheme = new SchemeOptions("--scheme", required: false);
        scheme.AddTo(command);
        var calibration = new CalibrationCliOptions();
        calibration.AddTo(command);
        command.SetAction(parse =>
        {
            CliOptions.ApplyThreads(parse.GetValue(threads));
            string text = parse.GetValue(file)!;
            if (!File.Exists(text))
            {
                throw new UsageException($"{text}: text file not found");
            }

            string? candidatePath = parse.GetValue(candidate);
            WeightFormat? format = scheme.Resolve(parse);
            if ((candidatePath is null) == (format is null))
            {
                throw new UsageException("give either a quantized model or --scheme to quantize the reference on the fly (not both)");
            }

            using LoadedModel refModel = ModelOptions.Load(CliOptions.ResolveModel(parse.GetValue(reference)));
            LoadedModel? loadedCandidate = candidatePath is null ? null : ModelOptions.Load(candidatePath);
            try
            {
                TransformerModel cand;
                string candName;
                if (loadedCandidate is not null)
                {
                    cand = loadedCandidate.Model;
                    candName = candidatePath!;
                }
                else
                {
                    QuantSpec spec = format!.Spec ?? throw new UsageException("--scheme must be a quantized scheme (not bf16)");
                    cand = calibration.Quantize(parse, refModel, spec).Model;
                    candName = $"{parse.GetValue(calibration.Method)} {spec.Name}";
                }

                return refModel.Model.Spec.IsEncoder
                    ? RunEncoder(parse, refModel, cand, candName, text, parse.GetValue(maxTexts), parse.GetValue(minWords), parse.GetValue(pairs), parse.GetValue(layer) ?? -1, parse.GetValue(perLayer), parse.GetValue(json))
                    : RunDecoder(refModel, cand, candName, text, new PerplexityOptions
                    {
                        Context = parse.GetValue(ctx),
                        MaxWindows = parse.GetValue(maxWindows),
                        SecondHalf = parse.GetValue(secondHalf),
                        Protocol = CliOptions.ParseProtocol(parse.GetValue(protocol)),
                    }, parse.GetValue(json));
            }
            finally
            {
                loadedCandidate?.Dispose();
            }
        });
        return command;
    }

    /// <summary>The lines of a text file with more than <paramref name="minWords"/> words, trimmed, duplicates dropped, in order.</summary>
    public static List<string> Texts(string file, int minWords, int maxTexts)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var texts = new List<string>();
        foreach (string line in File.ReadLines(file))
        {
            string t = line.Trim();
            if (t.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length > minWords && seen.Add(t))
            {
                texts.Add(t);
                if (maxTexts > 0 && texts.Count == maxTexts)
                {
                    break;
                }
            }
        }

        return texts.Count >= 2 ? texts : throw new QuantSharpException($"{file}: {texts.Count} line(s) of more than {minWords} words; fidelity needs at least 2");
    }

    private static int RunEncoder(ParseResult parse, LoadedModel refModel, TransformerModel cand, string candName, string file, int maxTexts, int minWords, string? pairsFile, int layer, bool perLayer, bool json)
    {
        SentencePooling pooling = Directory.Exists(refModel.Path) ? SentencePooling.Load(refModel.Path) : new SentencePooling();
        using var refEncoder = new SentenceEncoder(refModel.Model, refModel.Tokenizer, pooling, layer);
        using var candEncoder = new SentenceEncoder(cand, refModel.Tokenizer, pooling, layer);
        List<string> texts = Texts(file, minWords, maxTexts);
        List<int[]> ids = [.. texts.Select(refEncoder.Tokenize)];
        var progress = new StderrProgress("fidelity");
        EncoderFidelityResult r = EncoderFidelity.Compare(refEncoder, candEncoder, ids, null, (d, t) => progress.Report(d, t, "texts"));
        double? pairOrder = null, refPairOrder = null;
        if (pairsFile is not null)
        {
            (List<string> pairTexts, TextPairs pairs) = ReadPairs(pairsFile);
            List<int[]> pairIds = [.. pairTexts.Select(refEncoder.Tokenize)];
            pairOrder = EncoderFidelity.PairOrder(candEncoder.EmbedIds(pairIds), pairs);
            refPairOrder = EncoderFidelity.PairOrder(refEncoder.EmbedIds(pairIds), pairs);
        }

        long tokens = ids.Sum(i => (long)i.Length);
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("reference", refModel.Path);
                w.WriteString("quantized", candName);
                w.WriteNumber("texts", r.Texts);
                w.WriteNumber("tokens", tokens);
                w.WriteNumber("cosine_mean", r.CosineMean);
                w.WriteNumber("cosine_p1", r.CosineP1);
                w.WriteNumber("cosine_min", r.CosineMin);
                w.WriteNumber("recall_at_10", r.RecallAt10);
                if (pairOrder is double po)
                {
                    w.WriteNumber("pair_order", po);
                    w.WriteNumber("reference_pair_order", refPairOrder!.Value);
                }

                w.WriteStartArray("layer_relative_l2");
                foreach (double e in r.LayerRelativeError)
                {
                    w.WriteNumberValue(e);
                }

                w.WriteEndArray();
                w.WriteNumber("reference_texts_per_second", Math.Round(r.Texts / r.ReferenceSeconds, 2));
                w.WriteNumber("quantized_texts_per_second", Math.Round(r.Texts / r.CandidateSeconds, 2));
                w.WriteNumber("reference_weight_bytes", refModel.Model.WeightBytes);
                w.WriteNumber("quantized_weight_bytes", cand.WeightBytes);
            });
            return ExitCodes.Ok;
        }

        var o = Console.Out;
        o.WriteLine($"{candName} against {refModel.Path}: {r.Texts} texts, {tokens} tokens, hidden state {refEncoder.HiddenStateIndex}, {pooling.Mode.ToString().ToLowerInvariant()} pooling");
        o.WriteLine(FormattableString.Invariant($"  embedding cosine   mean {r.CosineMean:F5}   p1 {r.CosineP1:F5}   min {r.CosineMin:F5}"));
        o.WriteLine(FormattableString.Invariant($"  recall@10          {r.RecallAt10:F4}"));
        if (pairOrder is double p)
        {
            o.WriteLine(FormattableString.Invariant($"  paraphrase > unrelated  {p:P1} (reference {refPairOrder:P1})"));
        }

        o.WriteLine(FormattableString.Invariant($"  weights            {CliOptions.Bytes(cand.WeightBytes)} vs {CliOptions.Bytes(refModel.Model.WeightBytes)}"));
        o.WriteLine(FormattableString.Invariant($"  speed              {r.Texts / r.CandidateSeconds:F1} vs {r.Texts / r.ReferenceSeconds:F1} texts/s"));
        if (perLayer)
        {
            o.WriteLine("  hidden state   relative L2 error");
            for (int i = 0; i < r.LayerRelativeError.Count; i++)
            {
                o.WriteLine(FormattableString.Invariant($"  {i,12}   {r.LayerRelativeError[i]:E3}"));
            }
        }

        return ExitCodes.Ok;
    }

    private static (List<string> Texts, TextPairs Pairs) ReadPairs(string path)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(path));
            JsonElement root = doc.RootElement;
            List<string> texts = [.. root.GetProperty("sentences").EnumerateArray().Select(s => s.GetProperty("text").GetString() ?? "")];
            List<(int, int)> Read(string kind) => [.. root.GetProperty("pairs").GetProperty(kind).EnumerateArray().Select(p =>
            {
                int a = p.GetProperty("a").GetInt32(), b = p.GetProperty("b").GetInt32();
                return (uint)a < (uint)texts.Count && (uint)b < (uint)texts.Count ? (a, b)
                    : throw new QuantSharpException($"{path}: pair ({a}, {b}) names a sentence outside 0..{texts.Count - 1}");
            })];
            return (texts, new TextPairs(Read("paraphrase"), Read("unrelated")));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new QuantSharpException($"{path}: not a pairs file ({e.Message}); expected 'sentences' [{{text}}] and 'pairs' {{paraphrase, unrelated}}", e);
        }
    }

    private static int RunDecoder(LoadedModel refModel, TransformerModel cand, string candName, string file, PerplexityOptions options, bool json)
    {
        var tokenizer = refModel.RequireTokenizer();
        int bos = tokenizer.BosId ?? throw new QuantSharpException($"{refModel.Path}: the tokenizer has no BOS token, which the perplexity protocol needs");
        IReadOnlyList<int> tokens = tokenizer.Encode(File.ReadAllText(file));
        var progress = new StderrProgress("fidelity");
        DecoderFidelityResult r = DecoderFidelity.Compare(refModel.Model, cand, tokens, bos, new PerplexityOptions
        {
            Context = options.Context,
            MaxWindows = options.MaxWindows,
            SecondHalf = options.SecondHalf,
            Protocol = options.Protocol,
            AddBos = tokenizer.AddBosByDefault,
            Progress = (d, t) => progress.Report(d, t, "windows"),
        });
        if (json)
        {
            CliOptions.WriteJson(w =>
            {
                w.WriteString("reference", refModel.Path);
                w.WriteString("quantized", candName);
                w.WriteNumber("reference_ppl", r.ReferencePerplexity);
                w.WriteNumber("quantized_ppl", r.CandidatePerplexity);
                w.WriteNumber("kl_mean", r.KlMean);
                w.WriteNumber("kl_p99", r.KlP99);
                w.WriteNumber("top1_agreement", r.TopOneAgreement);
                w.WriteNumber("scored_tokens", r.ScoredTokens);
                w.WriteNumber("windows", r.Windows);
            });
            return ExitCodes.Ok;
        }

        Console.Out.WriteLine($"{candName} against {refModel.Path}: {r.ScoredTokens} scored tokens in {r.Windows} windows");
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  perplexity     {r.CandidatePerplexity:F4} vs {r.ReferencePerplexity:F4} ({(r.CandidatePerplexity / r.ReferencePerplexity - 1) * 100:+0.00;-0.00}%)"));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  KL divergence  mean {r.KlMean:F5}   p99 {r.KlP99:F5} nats"));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  top-1 agrees   {r.TopOneAgreement:P2}"));
        return ExitCodes.Ok;
    }
}
