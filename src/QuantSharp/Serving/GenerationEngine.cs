using System.Collections.Concurrent;
using QuantSharp.Models;

namespace QuantSharp.Serving;

/// <summary>
/// Serves concurrent generation requests on one model with continuous batching: up to
/// <see cref="GenerationEngineOptions.Parallel"/> sequences are active at once, each with its own KV cache, and every step
/// runs the next token of each decoding sequence plus a chunk of the waiting prompts through one forward pass
/// (<see cref="SequenceBatch"/>), so the weights are streamed once per step for all of them. New requests join between
/// steps; a request whose cancellation token fires is dropped at the next step and frees its slot. One background thread
/// runs the steps and sleeps (no spinning) while there is nothing to do.
/// </summary>
public sealed class GenerationEngine : IDisposable
{
    private sealed class Slot
    {
        public InferenceSession? Session;
        public GenerationStream? Stream;
        public Sampler? Sampler;
        public List<int> Seen = [];
        public int Fed;
        public int Last;
        public int Generated;
    }

    private readonly TransformerModel _model;
    private readonly GenerationEngineOptions _options;
    private readonly SequenceBatch _batch;
    private readonly Slot[] _slots;
    private readonly LinkedList<GenerationStream> _waiting = new(); // guarded by itself
    private readonly ConcurrentQueue<Action<bool>> _exclusive = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly HashSet<int> _eos;
    private readonly Thread _thread;
    private readonly float[] _logits;
    private int _inFlight;
    private volatile bool _stopping;
    private int _disposed;

    /// <summary>Starts the engine's thread for <paramref name="model"/>.</summary>
    /// <exception cref="QuantSharpException">The model is an encoder.</exception>
    public GenerationEngine(TransformerModel model, GenerationEngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.RequireHead();
        options ??= new GenerationEngineOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Parallel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PrefillChunk, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(options.QueueCapacity);
        _model = model;
        _options = options;
        ContextLength = options.ContextLength > 0 ? Math.Min(options.ContextLength, model.Config.MaxPositions) : Math.Min(4096, model.Config.MaxPositions);
        _batch = new SequenceBatch(model, options.Parallel, options.Parallel + options.PrefillChunk);
        _slots = Enumerable.Range(0, options.Parallel).Select(_ => new Slot()).ToArray();
        _eos = [.. model.Config.EosTokenIds];
        _logits = new float[options.Parallel * model.Config.VocabSize];
        _thread = new Thread(Loop) { IsBackground = true, Name = "QuantSharp generation engine" };
        _thread.Start();
    }

    /// <summary>The model served.</summary>
    public TransformerModel Model => _model;

    /// <summary>Positions per sequence (prompt plus generated tokens).</summary>
    public int ContextLength { get; }

    /// <summary>Sequences decoded together.</summary>
    public int Parallel => _options.Parallel;

    /// <summary>Requests now generating or waiting for a slot.</summary>
    public int Pending => Volatile.Read(ref _inFlight);

    /// <summary>
    /// Queues a request. Generated ids arrive in the returned stream's <see cref="GenerationStream.Tokens"/>; generation
    /// ends at an end-of-sequence or <see cref="SamplingOptions.StopTokens"/> id (when <see cref="SamplingOptions.StopAtEos"/>),
    /// after <see cref="SamplingOptions.MaxTokens"/>, when the context is full, or when <paramref name="cancellation"/> fires.
    /// </summary>
    /// <exception cref="QuantSharpException">The prompt is empty, holds an id outside the vocabulary, or leaves no room in the context.</exception>
    /// <exception cref="EngineBusyException">The queue is full or the engine is shutting down.</exception>
    public GenerationStream Submit(IReadOnlyList<int> prompt, SamplingOptions options, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        if (prompt.Count == 0)
        {
            throw new QuantSharpException("the prompt is empty");
        }

        if (prompt.Count >= ContextLength)
        {
            throw new ContextOverflowException(prompt.Count, ContextLength);
        }

        int vocab = _model.Config.VocabSize;
        foreach (int id in prompt)
        {
            if ((uint)id >= (uint)vocab)
            {
                throw new QuantSharpException($"token id {id} is outside the vocabulary of {vocab}");
            }
        }

        if (_stopping)
        {
            throw new EngineBusyException("the engine is shutting down", shuttingDown: true);
        }

        if (Interlocked.Increment(ref _inFlight) > _options.Parallel + _options.QueueCapacity)
        {
            Interlocked.Decrement(ref _inFlight);
            throw new EngineBusyException($"all {_options.Parallel} sequence slots are busy and {_options.QueueCapacity} requests are already waiting");
        }

        var stream = new GenerationStream([.. prompt], options, cancellation);
        lock (_waiting)
        {
            _waiting.AddLast(stream);
        }

        Wake();
        if (_stopping && !_thread.IsAlive)
        {
            DrainAfterStop(); // the engine stopped between the check above and the enqueue
        }

        return stream;
    }

    /// <summary>Runs <paramref name="work"/> on the engine's thread between two steps (for other uses of the model's
    /// weights and kernels, such as embeddings, which must not overlap a step).</summary>
    public Task<T> RunExclusiveAsync<T>(Func<T> work, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (_stopping)
        {
            throw new EngineBusyException("the engine is shutting down", shuttingDown: true);
        }

        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _exclusive.Enqueue(run =>
        {
            if (!run)
            {
                completion.TrySetException(new EngineBusyException("the engine shut down before this work ran", shuttingDown: true));
                return;
            }

            if (cancellation.IsCancellationRequested)
            {
                completion.TrySetCanceled(cancellation);
                return;
            }

            try
            {
                completion.TrySetResult(work());
            }
            catch (Exception e)
            {
                completion.TrySetException(e);
            }
        });
        Wake();
        if (_stopping && !_thread.IsAlive)
        {
            DrainAfterStop(); // the engine stopped between the check above and the enqueue
        }

        return completion.Task;
    }

    private void Wake()
    {
        try
        {
            _signal.Release();
        }
        catch (ObjectDisposedException)
        {
            // Disposed concurrently: nothing is left to wake.
        }
    }

    private void Loop()
    {
        var sessions = new InferenceSession[_slots.Length];
        var owners = new int[_slots.Length];
        int[] tokens = new int[_batch.MaxTokens];
        int[] counts = new int[_slots.Length];
        while (true)
        {
            while (_exclusive.TryDequeue(out Action<bool>? work))
            {
                work(true);
            }

            if (_stopping)
            {
                break;
            }

            try
            {
                Step(sessions, owners, tokens, counts);
            }
            catch (Exception e)
            {
                // Nothing may escape the engine's thread (it would end the process): fail what is running and go on.
                foreach (Slot slot in _slots)
                {
                    Free(slot, GenerationFinish.Error, e);
                }

                Array.Clear(sessions);
            }
        }

        foreach (Slot slot in _slots)
        {
            Free(slot, GenerationFinish.Cancelled);
            slot.Session?.Dispose();
        }

        DrainAfterStop();
    }

    /// <summary>One step: admit waiting requests, run every active sequence's next rows, sample; sleeps when idle.</summary>
    private void Step(InferenceSession[] sessions, int[] owners, int[] tokens, int[] counts)
    {
        Admit();
        int n = 0, rows = 0, prefillBudget = _options.PrefillChunk;
        for (int i = 0; i < _slots.Length; i++)
        {
            Slot slot = _slots[i];
            if (slot.Stream is null)
            {
                continue;
            }

            if (slot.Stream.Cancellation.IsCancellationRequested)
            {
                Free(slot, GenerationFinish.Cancelled);
                continue;
            }

            int[] prompt = slot.Stream.Prompt;
            int count;
            if (slot.Fed < prompt.Length)
            {
                if (prefillBudget == 0)
                {
                    continue;
                }

                count = Math.Min(prefillBudget, prompt.Length - slot.Fed);
                prompt.AsSpan(slot.Fed, count).CopyTo(tokens.AsSpan(rows));
                slot.Fed += count;
                prefillBudget -= count;
            }
            else
            {
                count = 1;
                tokens[rows] = slot.Last;
            }

            sessions[n] = slot.Session!;
            counts[n] = count;
            owners[n++] = i;
            rows += count;
        }

        if (n == 0)
        {
            Array.Clear(sessions);
            _signal.Wait();
            return;
        }

        try
        {
            _batch.Forward(sessions.AsSpan(0, n), tokens.AsSpan(0, rows), counts.AsSpan(0, n), _logits);
        }
        catch (Exception e)
        {
            for (int k = 0; k < n; k++)
            {
                Free(_slots[owners[k]], GenerationFinish.Error, e);
            }

            return;
        }

        int vocab = _model.Config.VocabSize;
        for (int k = 0; k < n; k++)
        {
            Slot slot = _slots[owners[k]];
            if (slot.Fed < slot.Stream!.Prompt.Length)
            {
                continue; // more prompt to feed: these logits are not needed
            }

            Emit(slot, _logits.AsSpan(k * vocab, vocab));
        }
    }

    /// <summary>Ends everything still queued once the engine has stopped (called by the engine's thread as it exits,
    /// by <see cref="Dispose"/> after it, and by a caller that enqueued just as it stopped; each item ends once).</summary>
    private void DrainAfterStop()
    {
        while (TakeWaiting() is GenerationStream stream)
        {
            Complete(stream, GenerationFinish.Cancelled);
        }

        while (_exclusive.TryDequeue(out Action<bool>? work))
        {
            work(false);
        }
    }

    /// <summary>The oldest waiting request, removed from the queue; null when none waits.</summary>
    private GenerationStream? TakeWaiting()
    {
        lock (_waiting)
        {
            if (_waiting.First is not LinkedListNode<GenerationStream> first)
            {
                return null;
            }

            _waiting.RemoveFirst();
            return first.Value;
        }
    }

    private void Admit()
    {
        lock (_waiting)
        {
            // Requests whose client went away while waiting end now, not when a slot frees up.
            for (LinkedListNode<GenerationStream>? node = _waiting.First; node is not null;)
            {
                LinkedListNode<GenerationStream>? next = node.Next;
                if (node.Value.Cancellation.IsCancellationRequested)
                {
                    _waiting.Remove(node);
                    Complete(node.Value, GenerationFinish.Cancelled);
                }

                node = next;
            }
        }

        foreach (Slot slot in _slots)
        {
            if (slot.Stream is not null)
            {
                continue;
            }

            if (TakeWaiting() is not GenerationStream stream)
            {
                return;
            }

            slot.Stream = stream;
            try
            {
                slot.Session ??= new InferenceSession(_model, ContextLength, maxBatch: 1);
            }
            catch (Exception e)
            {
                Free(slot, GenerationFinish.Error, e); // e.g. no memory for this slot's KV cache
                continue;
            }

            slot.Session.Reset();
            slot.Sampler = new Sampler(stream.Options, _model.Config.VocabSize);
            slot.Seen.Clear();
            slot.Seen.AddRange(stream.Prompt);
            slot.Fed = 0;
            slot.Generated = 0;
            if (stream.Options.MaxTokens <= 0)
            {
                Free(slot, GenerationFinish.Length);
            }
        }
    }

    private void Emit(Slot slot, Span<float> logits)
    {
        GenerationStream stream = slot.Stream!;
        SamplingOptions options = stream.Options;
        int next = slot.Sampler!.Next(logits, slot.Seen);
        slot.Generated++;
        if (options.StopAtEos && (_eos.Contains(next) || options.StopTokens.Contains(next)))
        {
            Free(slot, GenerationFinish.Stop);
            return;
        }

        slot.Seen.Add(next);
        slot.Last = next;
        stream.Write(next);
        if (slot.Generated >= options.MaxTokens || slot.Session!.Position >= ContextLength)
        {
            Free(slot, GenerationFinish.Length);
        }
    }

    private void Free(Slot slot, GenerationFinish finish, Exception? error = null)
    {
        if (slot.Stream is not null)
        {
            Complete(slot.Stream, finish, error);
        }

        slot.Stream = null;
        slot.Sampler = null;
    }

    /// <summary>Ends a request and releases its place in the count of requests in flight.</summary>
    private void Complete(GenerationStream stream, GenerationFinish finish, Exception? error = null)
    {
        Interlocked.Decrement(ref _inFlight);
        stream.Complete(finish, error);
    }

    /// <summary>Stops the engine: running and waiting requests end as <see cref="GenerationFinish.Cancelled"/>, and the
    /// KV caches are freed.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping = true;
        Wake();
        _thread.Join();
        DrainAfterStop();
    }
}
