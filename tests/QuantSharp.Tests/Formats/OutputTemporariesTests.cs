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

    private static int EndedProcessId()
    {
        using Process p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }
}
