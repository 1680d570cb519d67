using System.Runtime.ExceptionServices;
using QuantSharp.Fuzz;
using SharpFuzz;

// QuantSharp.Fuzz list                       the targets
// QuantSharp.Fuzz seeds TARGET DIR           write TARGET's starting inputs into DIR
// QuantSharp.Fuzz replay TARGET PATH...      run files (or every file of folders) once; exit 1 naming each failure
// QuantSharp.Fuzz afl TARGET                 the afl-fuzz harness (bench/fuzz/run.sh starts it)
if (args is ["list"])
{
    foreach (FuzzTarget t in FuzzTargets.All)
    {
        Console.WriteLine($"{t.Name,-18} {t.Parses}");
    }

    return 0;
}

if (args is ["seeds", string seedTarget, string directory])
{
    Directory.CreateDirectory(directory);
    int count = 0;
    foreach ((string name, byte[] bytes) in FuzzTargets.Get(seedTarget).Seeds(FuzzSeeds.Shared))
    {
        File.WriteAllBytes(Path.Combine(directory, name), bytes);
        count++;
    }

    Console.WriteLine($"{count} seeds for {seedTarget} in {directory}");
    return 0;
}

if (args is ["replay", string replayTarget, .. string[] paths])
{
    FuzzTarget target = FuzzTargets.Get(replayTarget);
    int failures = 0, total = 0;
    foreach (string file in paths.SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p]).Order(StringComparer.Ordinal))
    {
        total++;
        if (target.Check(File.ReadAllBytes(file)) is Exception e)
        {
            failures++;
            Console.WriteLine($"{file}: {e.GetType().Name}: {e.Message}");
            Console.WriteLine(e.StackTrace);
        }
    }

    Console.WriteLine($"{replayTarget}: {total} inputs, {failures} failed");
    return failures == 0 ? 0 : 1;
}

if (args is ["afl", string aflTarget])
{
    FuzzTarget target = FuzzTargets.Get(aflTarget);
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        if (target.Check(buffer.ToArray()) is Exception e)
        {
            ExceptionDispatchInfo.Throw(e);
        }
    });
    return 0;
}

Console.Error.WriteLine("usage: QuantSharp.Fuzz list | seeds TARGET DIR | replay TARGET PATH... | afl TARGET");
return 2;
