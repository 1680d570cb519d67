using QuantSharp.Models;
using QuantSharp.Serving;

namespace QuantSharp.Tests.Serving;

/// <summary>The continuous-batching engine: concurrent greedy requests give what each gives alone, and slots, queue
/// and cancellation behave.</summary>
public class GenerationEngineTests
{
    private static LoadedModel Load(string? scheme = null)
        => ModelLoader.Load(TestPaths.BrownLlama, scheme is null ? new LoadOptions() : QuantizingLinearProvider.Options(WeightFormat.Parse(scheme)));

    [Theory]
    [InlineData(null)]
    [InlineData("int4")]
    [InlineData("int8")]
    public async Task ConcurrentGreedyRequestsEqualOneSequenceAtATime(string? scheme)
    {
        using LoadedModel loaded = Load(scheme);
        var tokenizer = loaded.RequireTokenizer();
        string[] texts = ["The jury said", "It was a", "In the morning the committee", "He", "The city of Atlanta has", "She looked at"];
        int[][] prompts = [.. texts.Select(t => tokenizer.Encode(t, addSpecialTokens: true))];
        var options = new SamplingOptions { MaxTokens = 20, StopAtEos = true };
        var generator = new Generator(loaded.Model);
        int[][] alone = [.. prompts.Select(p => generator.Generate(p, options).Where(id => !loaded.Model.Config.EosTokenIds.Contains(id)).ToArray())];

        // 6 requests on 4 slots: two wait, join as others finish, and prompts prefill in chunks of 3 beside decode rows.
        using var engine = new GenerationEngine(loaded.Model, new GenerationEngineOptions { Parallel = 4, PrefillChunk = 3, ContextLength = 64 });
        GenerationStream[] streams = [.. prompts.Select(p => engine.Submit(p, options))];
        for (int i = 0; i < streams.Length; i++)
        {
            var ids = new List<int>();
            await foreach (int id in streams[i].Tokens.ReadAllAsync())
            {
                ids.Add(id);
            }

            Assert.Equal(alone[i], ids);
            Assert.Equal(ids.Count == 20 ? GenerationFinish.Length : GenerationFinish.Stop, streams[i].Finish);
            Assert.Equal(ids.Count, streams[i].GeneratedTokens);
        }

        Assert.Equal(0, engine.Pending);
    }

    [Fact]
    public async Task CancellingARequestFreesItsSlotForTheNext()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Stories260K);
        using var engine = new GenerationEngine(loaded.Model, new GenerationEngineOptions { Parallel = 1, QueueCapacity = 1, ContextLength = 512 });
        using var cancel = new CancellationTokenSource();
        var endless = new SamplingOptions { MaxTokens = 500, StopAtEos = false };
        GenerationStream first = engine.Submit([1, 100, 200], endless, cancel.Token);
        GenerationStream second = engine.Submit([1, 300], new SamplingOptions { MaxTokens = 3, StopAtEos = false });
        Assert.Throws<EngineBusyException>(() => engine.Submit([1, 5], endless));

        // Once the first request is running, hold the engine between two steps, cancel, and let it go on: the next step
        // must drop the request (a client that went away) and hand its slot to the waiting one.
        Assert.True(await first.Tokens.WaitToReadAsync());
        await BetweenStepsAsync(engine, cancel);
        while (await first.Tokens.WaitToReadAsync())
        {
            first.Tokens.TryRead(out _);
        }

        Assert.Equal(GenerationFinish.Cancelled, first.Finish);
        Assert.True(first.GeneratedTokens < 500, $"generated {first.GeneratedTokens} tokens after cancellation");
        int count = 0;
        await foreach (int _ in second.Tokens.ReadAllAsync())
        {
            count++;
        }

        Assert.Equal(3, count);
        Assert.Equal(GenerationFinish.Length, second.Finish);
        Assert.Equal(0, engine.Pending);
    }

    [Fact]
    public async Task ACancelledWaitingRequestEndsWithoutWaitingForASlot()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Stories260K);
        using var engine = new GenerationEngine(loaded.Model, new GenerationEngineOptions { Parallel = 1, QueueCapacity = 1, ContextLength = 512 });
        for (int attempt = 0; ; attempt++)
        {
            using var stopFirst = new CancellationTokenSource();
            using var stopSecond = new CancellationTokenSource();
            GenerationStream first = engine.Submit([1, 100], new SamplingOptions { MaxTokens = 500, StopAtEos = false }, stopFirst.Token);
            Assert.True(await first.Tokens.WaitToReadAsync());

            // With the engine held between steps: the first request still holds the only slot, the second is submitted
            // (so it waits) and cancelled. The next step must end it although the slot stays busy; what the first request
            // had done at that moment is read on the engine's thread when the second ends, so no timing is involved.
            bool firstRunning = false;
            GenerationFinish? firstWhenSecondEnded = null;
            GenerationStream? second = null;
            await BetweenStepsAsync(engine, () =>
            {
                firstRunning = first.Finish == GenerationFinish.None;
                second = engine.Submit([1, 200], new SamplingOptions { MaxTokens = 5 }, stopSecond.Token);
                second.Ended = _ => firstWhenSecondEnded = first.Finish;
                stopSecond.Cancel();
            });
            await DrainAsync(second!).WaitAsync(TimeSpan.FromSeconds(30));
            await stopFirst.CancelAsync();
            await DrainAsync(first).WaitAsync(TimeSpan.FromSeconds(30));
            if (!firstRunning && attempt < 5)
            {
                continue; // the first request finished all its tokens before the hold (a starved test thread): set up again
            }

            Assert.True(firstRunning, "the first request never held the slot when the second was submitted");
            Assert.Equal(GenerationFinish.Cancelled, second!.Finish);
            Assert.Equal(GenerationFinish.None, firstWhenSecondEnded);
            Assert.Contains(first.Finish, (GenerationFinish[])[GenerationFinish.Cancelled, GenerationFinish.Length]); // cancelled, unless its tokens ran out first
            Assert.Equal(0, engine.Pending);
            return;
        }
    }

    /// <summary>Cancels <paramref name="source"/> while the engine's thread is held between two steps, then lets it go
    /// on, so the next step is the first to see the cancellation.</summary>
    private static Task BetweenStepsAsync(GenerationEngine engine, CancellationTokenSource source) => BetweenStepsAsync(engine, source.Cancel);

    /// <summary>Runs <paramref name="action"/> on this thread while the engine's thread is held between two steps, then
    /// lets it go on, so the next step is the first to see what the action did.</summary>
    private static async Task BetweenStepsAsync(GenerationEngine engine, Action action)
    {
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        Task<int> hold = engine.RunExclusiveAsync(() =>
        {
            held.Set();
            release.Wait();
            return 0;
        });
        held.Wait();
        action();
        release.Set();
        await hold;
    }

    /// <summary>Reads a stream to its end (a channel's Completion waits for its items to be read).</summary>
    private static async Task DrainAsync(GenerationStream stream)
    {
        await foreach (int _ in stream.Tokens.ReadAllAsync())
        {
        }
    }

    [Fact]
    public async Task DisposeEndsEverythingAndIsIdempotent()
    {
        using LoadedModel loaded = ModelLoader.Load(TestPaths.Stories260K);
        var engine = new GenerationEngine(loaded.Model, new GenerationEngineOptions { Parallel = 1, QueueCapacity = 2, ContextLength = 512 });
        GenerationStream running = engine.Submit([1, 100], new SamplingOptions { MaxTokens = 500, StopAtEos = false });
        GenerationStream waiting = engine.Submit([1, 200], new SamplingOptions { MaxTokens = 5 });
        engine.Dispose();
        engine.Dispose();
        Assert.True(DrainAsync(running).IsCompleted, "the running request's stream is complete once Dispose returns");
        Assert.True(DrainAsync(waiting).IsCompleted, "the waiting request's stream is complete once Dispose returns");
        await DrainAsync(running);
        Assert.Contains(running.Finish, new[] { GenerationFinish.Cancelled, GenerationFinish.Length });
        Assert.Equal(GenerationFinish.Cancelled, waiting.Finish);
        Assert.Equal(0, engine.Pending);
        var busy = Assert.Throws<EngineBusyException>(() => engine.Submit([1], new SamplingOptions()));
        Assert.True(busy.ShuttingDown);
    }

    [Fact]
    public void RejectsPromptsThatCannotRun()
    {
        using LoadedModel loaded = Load();
        using var engine = new GenerationEngine(loaded.Model, new GenerationEngineOptions { ContextLength = 16 });
        var overflow = Assert.Throws<ContextOverflowException>(() => engine.Submit(Enumerable.Repeat(5, 16).ToArray(), new SamplingOptions()));
        Assert.Contains("16", overflow.Message);
        Assert.Throws<QuantSharpException>(() => engine.Submit([], new SamplingOptions()));
        Assert.Throws<QuantSharpException>(() => engine.Submit([1, 4096], new SamplingOptions()));
    }

    [Fact]
    public async Task ContextLimitEndsGenerationWithLength()
    {
        using LoadedModel loaded = Load();
        using var engine = new GenerationEngine(loaded.Model, new GenerationEngineOptions { ContextLength = 10 });
        GenerationStream stream = engine.Submit([1, 100, 200, 300], new SamplingOptions { MaxTokens = 100, StopAtEos = false });
        int count = 0;
        await foreach (int _ in stream.Tokens.ReadAllAsync())
        {
            count++;
        }

        Assert.Equal(GenerationFinish.Length, stream.Finish);
        Assert.Equal(7, count); // positions 4..9 are fed back, and the token sampled at the last position is returned too
    }

    [Fact]
    public async Task ExclusiveWorkRunsBetweenSteps()
    {
        using LoadedModel loaded = Load();
        using var engine = new GenerationEngine(loaded.Model);
        Assert.Equal(42, await engine.RunExclusiveAsync(() => 42));
        await Assert.ThrowsAsync<InvalidOperationException>(() => engine.RunExclusiveAsync<int>(() => throw new InvalidOperationException("x")));
    }
}
