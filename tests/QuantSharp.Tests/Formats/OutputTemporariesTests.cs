using System.Diagnostics;
using System.Globalization;
using QuantSharp.Formats;

namespace QuantSharp.Tests.Formats;

public sealed class OutputTemporariesTests
{
    [Fact]
    public void StaleRemovalDeletesOnlyTemporariesOfEndedProcesses()
    {
        using var dir = new TempDir();
        string target = Path.Combine(dir.Path, "model");
        int ended = EndedProcessId();
        string dead = Path.Combine(dir.Path, $".model.qs-tmp-{ended.ToString(CultureInfo.InvariantCulture)}-abc");
        string running = Path.Combine(dir.Path, ".model.qs-tmp-1-abc"); // pid 1 runs as long as the machine does
        string other = Path.Combine(dir.Path, $".other.qs-tmp-{ended.ToString(CultureInfo.InvariantCulture)}-abc");
        string ownForgotten = Path.Combine(dir.Path, $".model.qs-tmp-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-old");
        string ownLive = OutputTemporaries.Claim(target);
        foreach (string folder in new[] { dead, running, other, ownForgotten, ownLive })
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "x"), "x");
        }

        Assert.Equal(2, OutputTemporaries.RemoveStale(target));
        Assert.False(Directory.Exists(dead));
        Assert.False(Directory.Exists(ownForgotten));
        Assert.True(Directory.Exists(running));
        Assert.True(Directory.Exists(other));
        Assert.True(Directory.Exists(ownLive));
        OutputTemporaries.Delete(ownLive);
        Assert.False(Directory.Exists(ownLive));
    }

    [Fact]
    public void AtomicFolderRemovesAKilledRunsLeftoversAndWritesDurably()
    {
        using var dir = new TempDir();
        string target = Path.Combine(dir.Path, "out");
        string leftover = Path.Combine(dir.Path, $".out.qs-tmp-{EndedProcessId().ToString(CultureInfo.InvariantCulture)}-0123");
        Directory.CreateDirectory(leftover);
        using (AtomicFolder folder = AtomicFolder.Begin(target, overwrite: false))
        {
            Assert.False(Directory.Exists(leftover));
            AtomicFile.WriteAllText(folder.File("a.txt"), "hello");
            folder.Commit();
        }

        Assert.Equal("hello", File.ReadAllText(Path.Combine(target, "a.txt")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path, ".*"));
    }

    [Fact]
    public void FailedAtomicFileWriteLeavesTheOldFileAndNoTemporary()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "f.bin");
        File.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.WriteByte(1);
            throw new InvalidOperationException("disk full");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Single(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Fact]
    public void AtomicFileReplacesAnExistingFileAndCleansItsOwnStaleTemporaries()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "f.bin");
        File.WriteAllText(path, "old");
        string leftover = Path.Combine(dir.Path, $".f.bin.qs-tmp-{EndedProcessId().ToString(CultureInfo.InvariantCulture)}-77");
        File.WriteAllText(leftover, "half");
        AtomicFile.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.False(File.Exists(leftover));
        Assert.Single(Directory.EnumerateFileSystemEntries(dir.Path));
        Assert.Throws<ArgumentNullException>(() => AtomicFile.Write(path, null!));
    }

    [Fact]
    public void AtomicFolderChecksTheTargetBeforeWritingAndAgainAtCommit()
    {
        using var dir = new TempDir();
        string busy = Path.Combine(dir.Path, "busy");
        Directory.CreateDirectory(busy);
        File.WriteAllText(Path.Combine(busy, "keep.txt"), "mine");
        var e = Assert.Throws<QuantSharpException>(() => AtomicFolder.Begin(busy, overwrite: false));
        Assert.Contains("not empty", e.Message, StringComparison.Ordinal);
        Assert.Single(Directory.EnumerateFileSystemEntries(dir.Path));

        // The target appears while the folder is written: the commit refuses and the other writer's files stay.
        string raced = Path.Combine(dir.Path, "nested", "deeper", "out");
        using (AtomicFolder folder = AtomicFolder.Begin(raced, overwrite: false))
        {
            File.WriteAllText(folder.File("a.txt"), "a");
            Directory.CreateDirectory(raced);
            File.WriteAllText(Path.Combine(raced, "theirs.txt"), "theirs");
            Assert.Throws<QuantSharpException>(folder.Commit);
        }

        Assert.Equal(["theirs.txt"], Directory.EnumerateFiles(raced).Select(Path.GetFileName));
        Assert.Single(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(raced)!));
    }

    [Fact]
    public void AtomicFolderCommitsOnceReplacesOnlyWithOverwriteAndDisposeWithoutCommitRemovesEverything()
    {
        using var dir = new TempDir();
        string target = Path.Combine(dir.Path, "out");
        AtomicFolder first = AtomicFolder.Begin(target, overwrite: false);
        File.WriteAllText(first.File("a.txt"), "1");
        first.Commit();
        Assert.Throws<ObjectDisposedException>(first.Commit);
        first.Dispose();
        Assert.Equal("1", File.ReadAllText(Path.Combine(target, "a.txt")));

        using (AtomicFolder second = AtomicFolder.Begin(target, overwrite: true))
        {
            File.WriteAllText(second.File("b.txt"), "2");
            second.Commit();
        }

        Assert.Equal(["b.txt"], Directory.EnumerateFiles(target).Select(Path.GetFileName));

        AtomicFolder abandoned = AtomicFolder.Begin(Path.Combine(dir.Path, "never"), overwrite: false);
        File.WriteAllText(abandoned.File("c.txt"), "3");
        abandoned.Dispose();
        Assert.False(Directory.Exists(abandoned.TempPath));
        Assert.Equal(["out"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName));
        Assert.Equal(0, OutputTemporaries.RemoveStale(Path.Combine(dir.Path, "no-such-folder", "x")));
    }

    private static int EndedProcessId()
    {
        using Process p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }
}
