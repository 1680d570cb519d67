using System.Diagnostics;
using QuantSharp.Kernels;
using QuantSharp.Models;
using QuantSharp.Tensors;

using QuantSharp.Quantization;

namespace QuantSharp.Calibration;

/// <summary>How a calibrated run quantizes each linear layer.</summary>
public enum QuantMethod
{
    /// <summary>Round-to-nearest (no calibration statistics; losses are still measured when data is given).</summary>
    Rtn,

    /// <summary>GPTQ error compensation with the Hessian of each layer's calibration inputs.</summary>
    Gptq,

    /// <summary>Activation-aware scaling folded into the producing op, clip search, then round-to-nearest.</summary>
    Awq,
}

/// <summary>Options of a calibrated quantization run.</summary>
public sealed class CalibrationOptions
{
    /// <summary>GPTQ parameters.</summary>
    public GptqOptions Gptq { get; init; } = new();

    /// <summary>AWQ α grid points in [0, 1) (AutoAWQ: 20).</summary>
    public int AwqGrid { get; init; } = 20;

    /// <summary>Calibration tokens (evenly subsampled) the AWQ α search runs on.</summary>
    public int AwqSearchTokens { get; init; } = 512;

    /// <summary>Calibration tokens the AWQ clip search runs on (AutoAWQ: 512); 0 skips the clip search.</summary>
    public int AwqClipTokens { get; init; } = 256;

    /// <summary>Test hook: fold the AWQ scales but keep the weights dense (the model's output must not change).</summary>
    internal bool AwqScaleOnly { get; init; }

    /// <summary>
    /// Leaves position 0 of every calibration sequence (the BOS token, an activation outlier and attention sink) out of
    /// the GPTQ Hessians and the AWQ statistics; the position still runs, so later positions attend to it as usual.
    /// </summary>
    public bool ExcludeFirstPosition { get; init; }

    /// <summary>Progress: (block done, blocks, message).</summary>
    public Action<int, int, string>? Progress { get; init; }
}

/// <summary>One quantized linear layer of a run.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Scheme">Scheme it was stored in.</param>
/// <param name="Loss">Mean over calibration tokens of <c>‖W·x − Ŵ·x‖²</c> with the layer's own (quantized-path) inputs; NaN when not measured.</param>
/// <param name="Bytes">Bytes of the packed weight.</param>
/// <param name="Note">Method detail (AWQ α, skipped scaling, …).</param>
public sealed record LayerReport(string Name, string Scheme, double Loss, long Bytes, string Note = "");

/// <summary>The output of a <see cref="CalibratedQuantization"/> run.</summary>
public sealed class CalibratedResult
{
    internal CalibratedResult(TransformerModel model, IReadOnlyDictionary<string, ILinearWeight> linears, IReadOnlyDictionary<string, float[]> replaced, IReadOnlyList<LayerReport> layers, double seconds, long peakBytes, long activationBytes)
    {
        Model = model;
        Linears = linears;
        ReplacedTensors = replaced;
        Layers = layers;
        Seconds = seconds;
        PeakWorkingSetBytes = peakBytes;
        ActivationBytes = activationBytes;
    }

    /// <summary>The quantized model (shares embeddings and classifier with the source model, which must stay open).</summary>
    public TransformerModel Model { get; }

    /// <summary>Every quantized block linear by tensor name.</summary>
    public IReadOnlyDictionary<string, ILinearWeight> Linears { get; }

    /// <summary>Non-linear tensors whose values changed (AWQ-folded norm weights), by tensor name.</summary>
    public IReadOnlyDictionary<string, float[]> ReplacedTensors { get; }

    /// <summary>Per-layer report, in forward order.</summary>
    public IReadOnlyList<LayerReport> Layers { get; }

    /// <summary>Wall time of the run (calibration forward passes and quantization; excludes producing the data).</summary>
    public double Seconds { get; }

    /// <summary>Peak working set of the process at the end of the run.</summary>
    public long PeakWorkingSetBytes { get; }

    /// <summary>Bytes of calibration activations held at once (one block's hidden states and captured inputs).</summary>
    public long ActivationBytes { get; }
}

/// <summary>
/// Calibrated quantization of a whole model, block by block like the GPTQ reference: the hidden states of all
/// calibration sequences at a block's input are kept; the block's linear layers are quantized (GPTQ: one
/// input-sharing group at a time, each group's inputs captured with the earlier groups already quantized; AWQ:
/// inputs captured from the unquantized block, scales searched and folded for every group, then clip search and
/// quantization); then the quantized block's outputs become the next block's inputs. Memory holds one block's
/// activations. Input-sharing groups come from <see cref="ArchitectureSpec.InputGroups"/>.
/// </summary>
public static class CalibratedQuantization
{
    /// <summary>Quantizes the block linears of <paramref name="model"/> with <paramref name="method"/>; <paramref name="specFor"/>
    /// picks each layer's scheme (a plan, or one spec for all), or null to keep that layer as stored (AWQ then scales
    /// no input group that feeds or is fed by a kept layer, so kept weights stay exactly as stored).</summary>
    /// <exception cref="QuantSharpException">A scheme the method does not support, or calibration data longer than the model's context.</exception>
    public static CalibratedResult Run(TransformerModel model, CalibrationData data, Func<string, QuantSpec?> specFor, QuantMethod method, CalibrationOptions? options = null)
    {
        options ??= new CalibrationOptions();
        var clock = Stopwatch.StartNew();
        ModelConfig c = model.Config;
        int d = c.HiddenSize, L = data.Length, samples = data.Sequences.Count;
        float[][] x = new float[samples][];
        for (int s = 0; s < samples; s++)
        {
            x[s] = new float[L * d];
            BlockRunner.Embed(model, data.Sequences[s], x[s]);
        }

        long activationBytes = 4L * samples * L * d;
        var linears = new Dictionary<string, ILinearWeight>(StringComparer.Ordinal);
        var replaced = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var reports = new List<LayerReport>();
        var blocks = new BlockWeights[model.Blocks.Length];
        using var runner = new BlockRunner(model, L);
        for (int l = 0; l < model.Blocks.Length; l++)
        {
            BlockWeights blk = model.Blocks[l].CloneVectors();
            IReadOnlyList<InputGroup> groups = model.Spec.InputGroups(l, c);
            long captured = method == QuantMethod.Awq
                ? QuantizeBlockAwq(model, runner, blk, l, groups, x, specFor, options, linears, replaced, reports)
                : QuantizeBlockSequential(model, runner, blk, l, groups, x, specFor, method, options, linears, reports);
            activationBytes = Math.Max(activationBytes, (4L * samples * L * d) + captured);
            foreach (float[] seq in x)
            {
                runner.Run(blk, l, seq, L);
            }

            blocks[l] = blk;
            options.Progress?.Invoke(l + 1, model.Blocks.Length, $"block {l}");
        }

        TransformerModel quantized = model.WithBlocks(blocks);
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        return new CalibratedResult(quantized, linears, replaced, reports, clock.Elapsed.TotalSeconds, peak, activationBytes);
    }

    /// <summary>Same scheme for every layer.</summary>
    public static CalibratedResult Run(TransformerModel model, CalibrationData data, QuantSpec spec, QuantMethod method, CalibrationOptions? options = null)
        => Run(model, data, _ => spec, method, options);

    /// <summary>Round-to-nearest of the block linears, no data (the baseline); a null spec keeps that layer as stored.</summary>
    public static TransformerModel QuantizeRtn(TransformerModel model, Func<string, QuantSpec?> specFor)
    {
        var blocks = new BlockWeights[model.Blocks.Length];
        for (int l = 0; l < blocks.Length; l++)
        {
            BlockWeights blk = model.Blocks[l].CloneVectors();
            foreach (string name in BlockLinearNames(model.Spec, l))
            {
                if (specFor(name) is QuantSpec spec)
                {
                    ILinearWeight w = Get(model.Spec, blk, l, name);
                    Set(model.Spec, blk, l, name, QuantizedLinear.Quantize(name, DenseOf(w), w.Rows, w.Cols, spec));
                }
            }

            blocks[l] = blk;
        }

        return model.WithBlocks(blocks);
    }

    private static long QuantizeBlockSequential(TransformerModel model, BlockRunner runner, BlockWeights blk, int l, IReadOnlyList<InputGroup> groups, float[][] x, Func<string, QuantSpec?> specFor, QuantMethod method, CalibrationOptions options, Dictionary<string, ILinearWeight> linears, List<LayerReport> reports)
    {
        int L = runner.MaxTokens;
        float[] work = new float[x[0].Length];
        long captured = 0;
        foreach (InputGroup g in groups)
        {
            if (g.Consumers.All(n => specFor(n) is null))
            {
                continue; // every consumer kept as stored: no inputs to capture
            }

            ILinearWeight first = Get(model.Spec, blk, l, g.Consumers[0]);
            var acc = new HessianAccumulator(first.Cols);
            captured = Math.Max(captured, 8L * first.Cols * first.Cols);
            foreach (float[] seq in x)
            {
                seq.CopyTo(work, 0);
                runner.Run(blk, l, work, L, (name, input, n) =>
                {
                    if (name == g.Consumers[0])
                    {
                        int skip = options.ExcludeFirstPosition && n > 1 ? 1 : 0;
                        acc.Add(input[(skip * first.Cols)..], n - skip);
                    }
                }, g.Consumers[^1]);
            }

            double[] cov = acc.Covariance();
            foreach (string name in g.Consumers)
            {
                if (specFor(name) is not QuantSpec chosen)
                {
                    continue;
                }

                ILinearWeight w = Get(model.Spec, blk, l, name);
                QuantSpec spec = chosen.FitRowLength(w.Cols);
                float[] dense = DenseOf(w);
                ILinearWeight q;
                double loss;
                if (method == QuantMethod.Gptq && (spec.IsIntGroup || spec.IsLattice || spec.Kind == QuantSchemeKind.Ternary))
                {
                    LayerQuantResult r = Gptq.Quantize(name, dense, w.Rows, w.Cols, cov, spec, options.Gptq);
                    q = QuantizedLinear.Create(r.Packed);
                    loss = r.Loss;
                }
                else
                {
                    q = QuantizedLinear.Quantize(name, dense, w.Rows, w.Cols, spec);
                    loss = Gptq.OutputLoss(dense, DenseOf(q), w.Rows, w.Cols, cov);
                }

                Set(model.Spec, blk, l, name, q);
                linears[name] = q;
                reports.Add(new LayerReport(name, q.Scheme, loss, q.BytesInMemory));
            }
        }

        return captured;
    }

    private static long QuantizeBlockAwq(TransformerModel model, BlockRunner runner, BlockWeights blk, int l, IReadOnlyList<InputGroup> groups, float[][] x, Func<string, QuantSpec?> specFor, CalibrationOptions options, Dictionary<string, ILinearWeight> linears, Dictionary<string, float[]> replaced, List<LayerReport> reports)
    {
        ArchitectureSpec spec = model.Spec;
        int L = runner.MaxTokens;
        long total = (long)x.Length * L;
        int keep = (int)Math.Min(total, Math.Max(options.AwqSearchTokens, options.AwqClipTokens));
        long stride = Math.Max(1, total / keep);

        // 1. Capture every group's input from the unquantized block: mean |x| over all tokens, plus an even subsample.
        var stats = groups.Select(g => new GroupCapture(Get(spec, blk, l, g.Consumers[0]).Cols, keep)).ToArray();
        float[] work = new float[x[0].Length];
        long index = 0;
        foreach (float[] seq in x)
        {
            seq.CopyTo(work, 0);
            long seqStart = index;
            runner.Run(blk, l, work, L, (name, input, n) =>
            {
                for (int gi = 0; gi < groups.Count; gi++)
                {
                    if (name == groups[gi].Consumers[0])
                    {
                        int skip = options.ExcludeFirstPosition && n > 1 ? 1 : 0;
                        stats[gi].Add(input[(skip * stats[gi].Cols)..], n - skip, seqStart + skip, stride);
                    }
                }
            });
            index += L;
        }

        long captured = stats.Sum(s => 4L * s.Cols * keep);
        var dense = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (string name in BlockLinearNames(spec, l))
        {
            dense[name] = DenseOf(Get(spec, blk, l, name));
        }

        string p = spec.LayerPrefix(l);
        var notes = new Dictionary<string, string>(StringComparer.Ordinal);

        // 2. Scale search and folding, group by group (folding keeps the unquantized outputs, so later groups'
        // captured inputs stay valid once divided by their own scales).
        for (int gi = 0; gi < groups.Count; gi++)
        {
            InputGroup g = groups[gi];
            int cols = stats[gi].Cols;
            float[]? producer = null;
            int rowStart = 0;
            if (g.Producer is null)
            {
                foreach (string name in g.Consumers)
                {
                    notes[name] = $"no scaling: {g.NoScaleReason}";
                }

                continue;
            }

            if (g.Producer == p + spec.AttnNorm)
            {
                producer = blk.AttnNorm;
            }
            else if (g.Producer == p + spec.MlpNorm)
            {
                producer = blk.MlpNorm;
            }
            else if (dense.TryGetValue(g.Producer, out float[]? pw))
            {
                ILinearWeight pl = Get(spec, blk, l, g.Producer);
                (int start, int count) = g.ProducerRows ?? (0, pl.Rows);
                if (count == cols)
                {
                    producer = pw;
                    rowStart = start;
                }
            }

            // Scaling multiplies every consumer and divides the producer: a layer kept as stored must be neither.
            string? kept = g.Consumers.Append(g.Producer).FirstOrDefault(n => dense.ContainsKey(n) && specFor(n) is null);
            if (kept is not null)
            {
                foreach (string name in g.Consumers)
                {
                    notes[name] = $"no scaling: {kept} is kept as stored";
                }

                continue;
            }

            if (!specFor(g.Consumers[0])!.IsIntGroup)
            {
                foreach (string name in g.Consumers)
                {
                    notes[name] = $"no scaling: {specFor(name)!.Name} is not an integer group scheme (round-to-nearest)";
                }

                continue;
            }

            if (producer is null)
            {
                foreach (string name in g.Consumers)
                {
                    notes[name] = $"no scaling: the rows of {g.Producer} do not map one-to-one onto this input (grouped-query attention)";
                }

                continue;
            }

            float[] xs = stats[gi].Sample;
            int searchTokens = Math.Min(stats[gi].Kept, options.AwqSearchTokens);
            var consumers = g.Consumers.Select(n => (dense[n], Get(spec, blk, l, n).Rows)).ToList();
            QuantSpec qspec = specFor(g.Consumers[0])!;
            (float[] s, double alpha, _) = Awq.SearchScales(consumers, cols, xs, searchTokens, stats[gi].MeanAbs(), qspec, options.AwqGrid);
            foreach (string name in g.Consumers)
            {
                float[] w = dense[name];
                for (int r = 0; r < w.Length / cols; r++)
                {
                    System.Numerics.Tensors.TensorPrimitives.Multiply(w.AsSpan(r * cols, cols), s, w.AsSpan(r * cols, cols));
                }

                notes[name] = $"awq α={alpha:F2}";
            }

            if (ReferenceEquals(producer, blk.AttnNorm) || ReferenceEquals(producer, blk.MlpNorm))
            {
                System.Numerics.Tensors.TensorPrimitives.Divide(producer, s, producer);
                replaced[g.Producer] = producer;
                float[]? normBias = ReferenceEquals(producer, blk.AttnNorm) ? blk.AttnNormBias : blk.MlpNormBias;
                if (normBias is not null)
                {
                    System.Numerics.Tensors.TensorPrimitives.Divide(normBias, s, normBias);
                    replaced[ArchitectureSpec.BiasOf(g.Producer)] = normBias;
                }
            }
            else
            {
                int pcols = producer.Length / Get(spec, blk, l, g.Producer).Rows;
                for (int i = 0; i < cols; i++)
                {
                    System.Numerics.Tensors.TensorPrimitives.Divide(producer.AsSpan((rowStart + i) * pcols, pcols), s[i], producer.AsSpan((rowStart + i) * pcols, pcols));
                }

                FoldIntoProducerBias(model, blk, l, g.Producer, rowStart, s, replaced);
            }

            stats[gi].DivideSample(s);
        }

        // 3. Clip search and quantization of every consumer.
        for (int gi = 0; gi < groups.Count; gi++)
        {
            InputGroup g = groups[gi];
            int cols = stats[gi].Cols;
            float[] xs = stats[gi].Sample;
            int clipTokens = Math.Min(stats[gi].Kept, options.AwqClipTokens);
            int lossTokens = Math.Min(stats[gi].Kept, options.AwqSearchTokens);
            foreach (string name in g.Consumers)
            {
                if (specFor(name) is not QuantSpec qspec)
                {
                    continue;
                }

                float[] w = dense[name];
                int rows = w.Length / cols;
                ILinearWeight q;
                if (options.AwqScaleOnly)
                {
                    q = new DenseLinear(TensorView.FromFloats(name, [rows, cols], w));
                }
                else if (!qspec.IsIntGroup)
                {
                    q = QuantizedLinear.Quantize(name, w, rows, cols, qspec);
                }
                else
                {
                    float[] clip = clipTokens > 0 ? Awq.SearchClip(w, rows, cols, xs, clipTokens, qspec) : [];
                    q = QuantizedLinear.Create(Awq.Pack(name, w, rows, cols, qspec, clip));
                }

                double loss = Awq.OutputError(Awq.MatMulT(xs, lossTokens, w, rows, cols), Awq.MatMulT(xs, lossTokens, DenseOf(q), rows, cols), lossTokens);
                Set(spec, blk, l, name, q);
                linears[name] = q;
                reports.Add(new LayerReport(name, q.Scheme, loss, q.BytesInMemory, notes.GetValueOrDefault(name, "")));
            }
        }

        return captured;
    }

    /// <summary>Divides the bias entries of a linear producer's rows <paramref name="rowStart"/>… by the AWQ scales (the
    /// q/k/v bias is stored as one [Q | K | V] vector; a separate V's entries start after Q and K) and records the
    /// producer's bias tensor as replaced.</summary>
    private static void FoldIntoProducerBias(TransformerModel model, BlockWeights blk, int layer, string producer, int rowStart, float[] s, Dictionary<string, float[]> replaced)
    {
        ArchitectureSpec spec = model.Spec;
        string p = spec.LayerPrefix(layer);
        int qDim = model.Config.Heads * model.Config.HeadDim, kvDim = model.Config.KvHeads * model.Config.HeadDim;
        (float[]? bias, int offset, int length) = producer == p + spec.V ? (blk.QkvBias, qDim + kvDim, kvDim)
            : producer == p + spec.Qkv ? (blk.QkvBias, 0, qDim + (2 * kvDim))
            : producer == p + spec.Up ? (blk.UpBias, 0, blk.UpBias?.Length ?? 0)
            : producer == p + spec.GateUp ? (blk.UpBias, 0, blk.UpBias?.Length ?? 0)
            : ((float[]?)null, 0, 0);
        if (bias is null)
        {
            return;
        }

        for (int i = 0; i < s.Length; i++)
        {
            bias[offset + rowStart + i] /= s[i];
        }

        replaced[ArchitectureSpec.BiasOf(producer)] = bias.AsSpan(offset, length).ToArray();
    }

    /// <summary>Per-group capture for AWQ: mean |x| over all tokens and an evenly strided token subsample.</summary>
    private sealed class GroupCapture(int cols, int keep)
    {
        private readonly double[] _abs = new double[cols];
        private long _tokens;

        public int Cols { get; } = cols;

        public float[] Sample { get; } = new float[(long)keep * cols];

        public int Kept { get; private set; }

        public void Add(ReadOnlySpan<float> input, int n, long firstIndex, long stride)
        {
            for (int t = 0; t < n; t++)
            {
                ReadOnlySpan<float> row = input.Slice(t * Cols, Cols);
                for (int c = 0; c < Cols; c++)
                {
                    _abs[c] += Math.Abs(row[c]);
                }

                if ((firstIndex + t) % stride == 0 && Kept < Sample.Length / Cols)
                {
                    row.CopyTo(Sample.AsSpan(Kept * Cols, Cols));
                    Kept++;
                }
            }

            _tokens += n;
        }

        public float[] MeanAbs() => [.. _abs.Select(a => (float)(a / Math.Max(1, _tokens)))];

        public void DivideSample(ReadOnlySpan<float> s)
        {
            for (int t = 0; t < Kept; t++)
            {
                System.Numerics.Tensors.TensorPrimitives.Divide(Sample.AsSpan(t * Cols, Cols), s, Sample.AsSpan(t * Cols, Cols));
            }
        }
    }

    /// <summary>The weight as a row-major float array.</summary>
    internal static float[] DenseOf(ILinearWeight w)
    {
        float[] d = new float[(long)w.Rows * w.Cols];
        for (int r = 0; r < w.Rows; r++)
        {
            w.DequantizeRow(r, d.AsSpan(r * w.Cols, w.Cols));
        }

        return d;
    }

    /// <summary>Full names of block <paramref name="layer"/>'s linears, in forward order.</summary>
    internal static IEnumerable<string> BlockLinearNames(ArchitectureSpec spec, int layer)
    {
        string p = spec.LayerPrefix(layer);
        foreach (string? n in new[] { spec.Q, spec.K, spec.V, spec.Qkv, spec.O, spec.Gate, spec.Up, spec.GateUp, spec.Down })
        {
            if (n is not null)
            {
                yield return p + n;
            }
        }
    }

    internal static ILinearWeight Get(ArchitectureSpec spec, BlockWeights b, int layer, string fullName)
    {
        string n = Relative(spec, layer, fullName);
        ILinearWeight? w = n == spec.Q ? b.Q : n == spec.K ? b.K : n == spec.V ? b.V : n == spec.Qkv ? b.Qkv : n == spec.O ? b.O
            : n == spec.Gate ? b.Gate : n == spec.Up ? b.Up : n == spec.GateUp ? b.GateUp : n == spec.Down ? b.Down : null;
        return w ?? throw new QuantSharpException($"'{fullName}' is not a linear layer of block {layer}");
    }

    internal static void Set(ArchitectureSpec spec, BlockWeights b, int layer, string fullName, ILinearWeight w)
    {
        string n = Relative(spec, layer, fullName);
        if (n == spec.Q) { b.Q = w; }
        else if (n == spec.K) { b.K = w; }
        else if (n == spec.V) { b.V = w; }
        else if (n == spec.Qkv) { b.Qkv = w; }
        else if (n == spec.O) { b.O = w; }
        else if (n == spec.Gate) { b.Gate = w; }
        else if (n == spec.Up) { b.Up = w; }
        else if (n == spec.GateUp) { b.GateUp = w; }
        else if (n == spec.Down) { b.Down = w; }
        else { throw new QuantSharpException($"'{fullName}' is not a linear layer of block {layer}"); }
    }

    private static string Relative(ArchitectureSpec spec, int layer, string fullName)
    {
        string p = spec.LayerPrefix(layer);
        return fullName.StartsWith(p, StringComparison.Ordinal) ? fullName[p.Length..] : fullName;
    }
}
