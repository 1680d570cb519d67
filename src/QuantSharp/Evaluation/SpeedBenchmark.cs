using System.Diagnostics;
using System.Numerics.Tensors;
using QuantSharp.Kernels;
using QuantSharp.Models;

namespace QuantSharp.Evaluation;

/// <summary>What <see cref="SpeedBenchmark.Run"/> measures.</summary>
public sealed class SpeedOptions
{
    /// <summary>Prompt tokens fed as one batch (prefill).</summary>
    public int PromptTokens { get; init; } = 64;

    /// <summary>Tokens decoded one at a time after the prompt (greedy).</summary>
    public int GenerateTokens { get; init; } = 32;

    /// <summary>Timed repeats after one untimed warm-up run.</summary>
    public int Repeats { get; init; } = 3;

    /// <summary>Whether one untimed run precedes the timed ones (off when the caller alternates single runs with another
    /// engine and has warmed up already).</summary>
    public bool WarmUp { get; init; } = true;
}

/// <summary>Timings of one model on one thread count.</summary>
/// <param name="PrefillTokensPerSecond">Best prompt throughput over the repeats.</param>
/// <param name="DecodeTokensPerSecond">Best decode throughput over the repeats (batch 1, after the prompt).</param>
/// <param name="MedianDecodeTokensPerSecond">Median decode throughput.</param>
/// <param name="MedianPrefillTokensPerSecond">Median prompt throughput.</param>
/// <param name="StreamedBytesPerToken">Weight bytes one decoded token reads (<see cref="SpeedBenchmark.StreamedBytesPerToken"/>).</param>
/// <param name="AllocatedBytesPerToken">Managed bytes allocated per decoded token, all threads, after warm-up.</param>
/// <param name="DecodeCpuUtilization">Process CPU time over wall time while decoding, in cores (≈ threads when the
/// machine is idle and the pool keeps them busy; less when other processes take the cores or threads wait).</param>
public sealed record SpeedResult(
    double PrefillTokensPerSecond, double DecodeTokensPerSecond, double MedianPrefillTokensPerSecond, double MedianDecodeTokensPerSecond,
    long StreamedBytesPerToken, double AllocatedBytesPerToken, double DecodeCpuUtilization)
{
    /// <summary>Weight bytes streamed per second while decoding (best run), in 10⁹ bytes/s.</summary>
    public double DecodeGBps => StreamedBytesPerToken * DecodeTokensPerSecond / 1e9;
}

/// <summary>Decode speed of several sequences advanced together (<see cref="SequenceBatch"/>).</summary>
/// <param name="Sequences">Sequences decoded per step.</param>
/// <param name="PerSequenceTokensPerSecond">Tokens per second each sequence gets (best run).</param>
/// <param name="MedianPerSequenceTokensPerSecond">The same, median run.</param>
/// <param name="AllocatedBytesPerStep">Managed bytes allocated per step (all sequences), averaged over the timed runs.</param>
public sealed record BatchedSpeedResult(int Sequences, double PerSequenceTokensPerSecond, double MedianPerSequenceTokensPerSecond, double AllocatedBytesPerStep)
{
    /// <summary>Tokens per second of all sequences together.</summary>
    public double AggregateTokensPerSecond => Sequences * PerSequenceTokensPerSecond;
}

/// <summary>
/// Measures prefill and decode speed of a model: per repeat, an empty cache gets a prompt of deterministic token ids in
/// one batch, then tokens are decoded one at a time by greedy argmax. The first run is a warm-up (JIT tiers, scratch
/// buffers, page faults of the mapped weights) and is not timed.
/// </summary>
public static class SpeedBenchmark
{
    /// <summary>Bytes of weights one decoded token reads: every linear layer in the blocks and the LM head (not the
    /// embedding table, of which a token reads one row).</summary>
    public static long StreamedBytesPerToken(TransformerModel model)
        => model.BlockLinears().Sum(l => l.Weight.BytesInMemory) + (model.LmHead?.BytesInMemory ?? 0);

    /// <summary>Weights one decoded token multiplies: every linear layer in the blocks and the LM head (the compute
    /// roof's counterpart of <see cref="StreamedBytesPerToken"/>).</summary>
    public static long WeightsPerToken(TransformerModel model)
        => model.BlockLinears().Sum(l => (long)l.Weight.Rows * l.Weight.Cols) + (model.LmHead is { } head ? (long)head.Rows * head.Cols : 0);

    /// <summary>
    /// Batched decode on the kernels' current thread count: <paramref name="sequences"/> sessions each get a prompt of
    /// <see cref="SpeedOptions.PromptTokens"/> different token ids (not timed), then <see cref="SpeedOptions.GenerateTokens"/>
    /// steps in which <see cref="SequenceBatch"/> advances every session by its greedy next token in one pass.
    /// </summary>
    public static BatchedSpeedResult RunBatched(TransformerModel model, SpeedOptions options, int sequences)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sequences, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.GenerateTokens, 1);
        int vocab = model.Config.VocabSize;
        int context = Context(model, options);

        var sessions = new InferenceSession[sequences];
        try
        {
            for (int s = 0; s < sequences; s++)
            {
                sessions[s] = new InferenceSession(model, context, maxBatch: options.PromptTokens);
            }

            var batch = new SequenceBatch(model, sequences, sequences);
            float[] logits = new float[sequences * vocab];
            int[] next = new int[sequences];
            int[] ones = [.. Enumerable.Repeat(1, sequences)];
            int[] prompt = new int[options.PromptTokens];
            var rates = new double[options.Repeats];
            long allocated = 0;
            for (int r = options.WarmUp ? -1 : 0; r < options.Repeats; r++)
            {
                for (int s = 0; s < sequences; s++)
                {
                    sessions[s].Reset();
                    FillPrompt(prompt, vocab, s);

                    sessions[s].Forward(prompt, logits.AsSpan(s * vocab, vocab));
                    next[s] = TensorPrimitives.IndexOfMax<float>(logits.AsSpan(s * vocab, vocab));
                }

                long before = GC.GetTotalAllocatedBytes(precise: true);
                long start = Stopwatch.GetTimestamp();
                for (int step = 0; step < options.GenerateTokens; step++)
                {
                    batch.Forward(sessions, next, ones, logits);
                    for (int s = 0; s < sequences; s++)
                    {
                        next[s] = TensorPrimitives.IndexOfMax<float>(logits.AsSpan(s * vocab, vocab));
                    }
                }

                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                long after = GC.GetTotalAllocatedBytes(precise: true);
                if (r >= 0)
                {
                    rates[r] = options.GenerateTokens / seconds;
                    allocated += after - before;
                }
            }

            Array.Sort(rates);
            return new BatchedSpeedResult(sequences, rates[^1], rates[options.Repeats / 2], allocated / (double)(options.Repeats * options.GenerateTokens));
        }
        finally
        {
            foreach (InferenceSession? s in sessions)
            {
                s?.Dispose();
            }
        }
    }

    /// <summary>Runs the benchmark on the kernels' current thread count (<see cref="WorkerPool.Shared"/>).</summary>
    public static SpeedResult Run(TransformerModel model, SpeedOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PromptTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.GenerateTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Repeats, 1);
        int vocab = model.Config.VocabSize;
        int context = Context(model, options);

        int[] prompt = new int[options.PromptTokens];
        FillPrompt(prompt, vocab, 0);

        using var session = new InferenceSession(model, context, maxBatch: options.PromptTokens);
        float[] logits = new float[vocab];
        int[] one = new int[1];
        var prefill = new double[options.Repeats];
        var decode = new double[options.Repeats];
        long allocated = 0;
        double cpu = 0, wall = 0;
        using Process process = Process.GetCurrentProcess();
        for (int r = options.WarmUp ? -1 : 0; r < options.Repeats; r++)
        {
            session.Reset();
            var clock = Stopwatch.StartNew();
            session.Forward(prompt, logits);
            double prefillSeconds = clock.Elapsed.TotalSeconds;
            long before = GC.GetTotalAllocatedBytes(precise: true);
            TimeSpan cpuBefore = process.TotalProcessorTime;
            clock.Restart();
            for (int i = 0; i < options.GenerateTokens; i++)
            {
                one[0] = TensorPrimitives.IndexOfMax<float>(logits);
                session.Forward(one, logits);
            }

            double decodeSeconds = clock.Elapsed.TotalSeconds;
            process.Refresh();
            double cpuSeconds = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
            long after = GC.GetTotalAllocatedBytes(precise: true);
            if (r >= 0)
            {
                prefill[r] = options.PromptTokens / prefillSeconds;
                decode[r] = options.GenerateTokens / decodeSeconds;
                allocated += after - before;
                cpu += cpuSeconds;
                wall += decodeSeconds;
            }
        }

        Array.Sort(prefill);
        Array.Sort(decode);
        return new SpeedResult(
            prefill[^1], decode[^1], prefill[options.Repeats / 2], decode[options.Repeats / 2],
            StreamedBytesPerToken(model), allocated / (double)(options.Repeats * options.GenerateTokens), cpu / wall);
    }

    // Positions one run needs (prompt, generated tokens, one spare); refused when the model has fewer.
    private static int Context(TransformerModel model, SpeedOptions options)
    {
        int context = options.PromptTokens + options.GenerateTokens + 1;
        if (context > model.Config.MaxPositions)
        {
            throw new QuantSharpException($"prompt {options.PromptTokens} + {options.GenerateTokens} generated tokens exceed the model's {model.Config.MaxPositions} positions");
        }

        return context;
    }

    // Deterministic prompt ids, different for each sequence of a batch (sequence 0: the single-sequence prompt).
    private static void FillPrompt(Span<int> prompt, int vocab, int sequence)
    {
        for (int i = 0; i < prompt.Length; i++)
        {
            prompt[i] = 1 + (int)(((i * 7919L) + (sequence * 104729L)) % (vocab - 1));
        }
    }
}
