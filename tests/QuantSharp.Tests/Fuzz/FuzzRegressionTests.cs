using QuantSharp.Fuzz;

namespace QuantSharp.Tests.Fuzz;

/// <summary>
/// The CI side of bench/fuzz: every fuzz target replays its seeds (made from ../shared), every input the fuzzer once
/// crashed or hung on (regressions/TARGET/), and a fixed number of deterministic mutations of the seeds (bit flips,
/// byte overwrites with boundary values, cuts, duplications, splices). Each must be read or refused with a
/// QuantSharpException; anything else escaping is a failure naming the input.
/// </summary>
public sealed class FuzzRegressionTests
{
    private static readonly string s_regressions = Path.Combine(RepositoryRoot(), "tests", "QuantSharp.Tests", "Fuzz", "regressions");

    public static TheoryData<string> Targets => [.. FuzzTargets.All.Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(Targets))]
    public void SeedsAndRecordedFindingsAreReadOrRefusedCleanly(string name)
    {
        FuzzSeeds.Shared = TestPaths.Shared;
        FuzzTarget target = FuzzTargets.Get(name);
        var failures = new List<string>();
        foreach ((string input, byte[] bytes) in Inputs(target))
        {
            if (target.Check(bytes) is Exception e)
            {
                failures.Add($"{input}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    /// <summary>The gguf finding, rebuilt here rather than kept as a .gguf file: a <c>llama.*</c> integer above 2³¹ once
    /// escaped model-config reading as an OverflowException.</summary>
    [Fact]
    public void GgufConfigIntegerAboveInt32IsRefusedCleanly()
    {
        using var writer = new QuantSharp.Formats.Gguf.GgufWriter(Path.GetTempPath());
        writer.Add("general.architecture", "llama");
        writer.Add("llama.embedding_length", 1UL << 40);
        writer.Add("llama.attention.head_count", 4u);
        byte[] file = writer.ToArray();
        Assert.Null(FuzzTargets.Get("gguf").Check(file));
        using var gguf = QuantSharp.Formats.Gguf.GgufFile.Parse(file, "big.gguf");
        var e = Assert.Throws<QuantSharp.Formats.Gguf.GgufException>(() => QuantSharp.Models.GgufModelLoader.ReadConfig(gguf));
        Assert.Contains("llama.embedding_length", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void MutatedSeedsAreReadOrRefusedCleanly(string name)
    {
        FuzzSeeds.Shared = TestPaths.Shared;
        FuzzTarget target = FuzzTargets.Get(name);
        byte[][] seeds = [.. target.Seeds(TestPaths.Shared).Select(s => s.Bytes)];
        var random = new Random(name.Length * 7919 + name[0]);
        int count = name is "checkpoint" or "server-request" ? 150 : 400;
        var failures = new List<string>();
        for (int i = 0; i < count && failures.Count < 5; i++)
        {
            byte[] seed = seeds[random.Next(seeds.Length)];
            byte[] mutant = Mutate(seed, seeds[random.Next(seeds.Length)], random);
            if (target.Check(mutant) is Exception e)
            {
                string file = Path.Combine(Path.GetTempPath(), $"quantsharp-fuzz-{name}-{i}.bin");
                File.WriteAllBytes(file, mutant);
                failures.Add($"mutation {i} (saved to {file}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    private static IEnumerable<(string, byte[])> Inputs(FuzzTarget target)
    {
        foreach ((string seed, byte[] bytes) in target.Seeds(TestPaths.Shared))
        {
            yield return ("seed " + seed, bytes);
        }

        string folder = Path.Combine(s_regressions, target.Name);
        if (Directory.Exists(folder))
        {
            foreach (string file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
            {
                yield return (Path.GetRelativePath(s_regressions, file), File.ReadAllBytes(file));
            }
        }
    }

    /// <summary>One to four of AFL's havoc-style edits.</summary>
    private static byte[] Mutate(byte[] seed, byte[] other, Random random)
    {
        var data = new List<byte>(seed);
        byte[] boundary = [0, 1, 0x7F, 0x80, 0xFF, (byte)'"', (byte)'{', (byte)'[', (byte)'\\', (byte)'}'];
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits; e++)
        {
            int at = data.Count == 0 ? 0 : random.Next(data.Count);
            switch (random.Next(7))
            {
                case 0 when data.Count > 0:
                    data[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when data.Count > 0:
                    data[at] = boundary[random.Next(boundary.Length)];
                    break;
                case 2 when data.Count > 0:
                    // A 32-bit boundary value (lengths, counts, offsets): 0, -1, int.MaxValue, 2^31, 2^32-2.
                    uint[] words = [0, uint.MaxValue, int.MaxValue, 0x80000000, 0xFFFFFFFE, 0x10000];
                    byte[] w = BitConverter.GetBytes(words[random.Next(words.Length)]);
                    for (int k = 0; k < 4 && at + k < data.Count; k++)
                    {
                        data[at + k] = w[k];
                    }

                    break;
                case 3:
                    data.RemoveRange(at, random.Next(Math.Min(64, data.Count - at) + 1));
                    break;
                case 4 when data.Count > 0:
                    int length = random.Next(1, Math.Min(64, data.Count - at) + 1);
                    data.InsertRange(at, data.GetRange(at, length));
                    break;
                case 5:
                    data.RemoveRange(at, data.Count - at);
                    break;
                default:
                    int from = other.Length == 0 ? 0 : random.Next(other.Length);
                    data.InsertRange(at, other.Skip(from).Take(random.Next(1, 128)));
                    break;
            }
        }

        return [.. data];
    }

    private static string RepositoryRoot() => TestPaths.RepositoryRoot;
}
