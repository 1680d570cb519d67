using System.Text;
using QuantSharp.Models;
using QuantSharp.Tokenizers;

namespace QuantSharp.Serving;

/// <summary>
/// Text out of a <see cref="GenerationEngine"/> request: ids are decoded as they arrive (a character split over tokens
/// is returned once whole) and generation stops at the first of the <c>stop</c> strings, which is not returned; text is
/// held back only while it could still be the start of a stop string. The OpenAI server and the
/// Microsoft.Extensions.AI clients both generate through this.
/// </summary>
public sealed class TextGeneration
{
    private readonly GenerationEngine _engine;
    private readonly Tokenizer _tokenizer;
    private readonly int[] _prompt;
    private readonly SamplingOptions _options;
    private readonly string[] _stop;

    /// <summary>Prepares a request (nothing runs until <see cref="StreamAsync"/> is enumerated).</summary>
    public TextGeneration(GenerationEngine engine, Tokenizer tokenizer, IReadOnlyList<int> prompt, SamplingOptions options, IReadOnlyList<string>? stop = null)
    {
        _engine = engine;
        _tokenizer = tokenizer;
        _prompt = [.. prompt];
        _options = options;
        _stop = stop?.Where(s => s.Length > 0).ToArray() ?? [];
    }

    /// <summary>Prompt tokens.</summary>
    public int PromptTokens => _prompt.Length;

    /// <summary>Tokens of the reply (known once the stream ends): up to and including the one that completed a stop
    /// string; the engine may have run a step or two further before it saw the stop.</summary>
    public int CompletionTokens { get; private set; }

    /// <summary>Why generation ended (known once the stream ends): <see cref="GenerationFinish.Stop"/> (end of sequence or
    /// a stop string), <see cref="GenerationFinish.Length"/>, <see cref="GenerationFinish.Cancelled"/> or
    /// <see cref="GenerationFinish.Error"/>.</summary>
    public GenerationFinish Finish { get; private set; }

    /// <summary>Submits the request and yields the generated text piece by piece.</summary>
    /// <exception cref="EngineBusyException">The engine's queue is full, or it shut down before the reply was complete.</exception>
    /// <exception cref="InvalidOperationException">The forward pass failed.</exception>
    public async IAsyncEnumerable<string> StreamAsync([EnumeratorCancellation] CancellationToken cancellation = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        GenerationStream stream = _engine.Submit(_prompt, _options, stop.Token);
        TokenStreamDecoder decoder = _tokenizer.CreateStreamDecoder();
        var pending = new StringBuilder();
        bool stopped = false;
        int consumed = 0;
        try
        {
            await foreach (int id in stream.Tokens.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                consumed++;
                pending.Append(decoder.Push(id));
                (string ready, stopped) = Release(pending, final: false);
                if (ready.Length > 0)
                {
                    yield return ready;
                }

                if (stopped)
                {
                    await stop.CancelAsync().ConfigureAwait(false);
                    break;
                }
            }

            if (!stopped)
            {
                pending.Append(decoder.Flush());
                (string rest, stopped) = Release(pending, final: true);
                if (rest.Length > 0)
                {
                    yield return rest;
                }
            }
        }
        finally
        {
            if (!stopped && stream.Finish == GenerationFinish.None)
            {
                await stop.CancelAsync().ConfigureAwait(false); // the consumer went away early
            }

            CompletionTokens = consumed; // tokens of the reply, up to the one that completed a stop string
            Finish = stopped ? GenerationFinish.Stop : stream.Finish;
        }

        cancellation.ThrowIfCancellationRequested();
        if (Finish == GenerationFinish.Error)
        {
            throw new InvalidOperationException($"generation failed: {stream.Error?.Message}", stream.Error);
        }

        if (Finish == GenerationFinish.Cancelled)
        {
            throw new EngineBusyException("the engine shut down before the reply was complete", shuttingDown: true);
        }
    }

    /// <summary>Generates the whole reply.</summary>
    public async Task<string> CompleteAsync(CancellationToken cancellation = default)
    {
        var text = new StringBuilder();
        await foreach (string piece in StreamAsync(cancellation).ConfigureAwait(false))
        {
            text.Append(piece);
        }

        return text.ToString();
    }

    /// <summary>The part of <paramref name="pending"/> that can be returned: up to a stop string (then stopped), or all
    /// but the longest tail that is a prefix of a stop string (everything when <paramref name="final"/>).</summary>
    private (string Ready, bool Stopped) Release(StringBuilder pending, bool final)
    {
        if (_stop.Length == 0)
        {
            string all = pending.ToString();
            pending.Clear();
            return (all, false);
        }

        string text = pending.ToString();
        int cut = -1;
        foreach (string s in _stop)
        {
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
            {
                cut = at;
            }
        }

        if (cut >= 0)
        {
            pending.Clear();
            return (text[..cut], true);
        }

        int keep = 0;
        if (!final)
        {
            foreach (string s in _stop)
            {
                for (int k = Math.Min(s.Length - 1, text.Length); k > keep; k--)
                {
                    if (text.AsSpan(text.Length - k).SequenceEqual(s.AsSpan(0, k)))
                    {
                        keep = k;
                        break;
                    }
                }
            }
        }

        pending.Clear();
        pending.Append(text, text.Length - keep, keep);
        return (text[..^keep], false);
    }
}
