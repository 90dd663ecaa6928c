using PgVault.Engine.Restore;
using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The spool of segments fetched ahead is a directory of PgVault's own OS user (mode 0700, not a link, in a parent
/// others cannot change): segments planted by anyone else, in a shared path or a foreign directory, never reach PostgreSQL.
/// </summary>
[Trait("Category", "Security")]
public sealed class WalSpoolTests : IDisposable
{
    private const string Segment = "000000010000000000000003";
    private static readonly string BackupId = Guid.NewGuid() + "-chain-15";
    private readonly TempDirectory _dir = new("spool-sec");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private static void Chown(string path, string owner)
    {
        using var p = System.Diagnostics.Process.Start("chown", ["-h", owner, path])!;
        Assert.True(p.WaitForExit(10_000) && p.ExitCode == 0, $"chown {owner} {path} failed");
    }

    private string Planted(string spool)
    {
        Directory.CreateDirectory(spool);
        var planted = Path.Combine(spool, Segment);
        File.WriteAllBytes(planted, "crafted WAL"u8.ToArray());
        return planted;
    }

    /// <summary>Fetches <see cref="Segment"/> from an empty repository with <paramref name="spool"/>: only the spool could serve it.</summary>
    private async Task AssertNotServedFromAsync(string spool)
    {
        var destination = Path.Combine(_dir.Path, "RECOVERYXLOG");
        var (code, message) = await WalFetcher.FetchAsync(new InMemoryObjectStore(), BackupId, Segment, destination, Ct, spool);
        Assert.True(code != 0, "a planted segment was handed to PostgreSQL: " + message);
        Assert.False(File.Exists(destination));
    }

    [Fact]
    public async Task A_spool_others_can_write_is_refused()
    {
        var spool = Path.Combine(_dir.Path, "shared");
        var planted = Planted(spool);
        File.SetUnixFileMode(spool, (UnixFileMode)Convert.ToInt32("1777", 8));

        await AssertNotServedFromAsync(spool);
        Assert.True(File.Exists(planted));
        await Assert.ThrowsAsync<PgVaultException>(() => WalFetcher.PrefetchAsync(new InMemoryObjectStore(), BackupId, Segment, 2, spool, Ct));
    }

    [Fact]
    public async Task A_spool_that_is_a_symbolic_link_is_refused()
    {
        var real = Path.Combine(_dir.Path, "elsewhere");
        Planted(real);
        var spool = Path.Combine(_dir.Path, "link");
        File.CreateSymbolicLink(spool, real);

        await AssertNotServedFromAsync(spool);
        await Assert.ThrowsAsync<PgVaultException>(() => WalFetcher.PrefetchAsync(new InMemoryObjectStore(), BackupId, Segment, 2, spool, Ct));
    }

    [Fact]
    public async Task A_symbolic_link_in_the_spool_is_not_followed()
    {
        var spool = PrivateFiles.EnsurePrivateDirectory(Path.Combine(_dir.Path, "private"), "test spool");
        var crafted = Path.Combine(_dir.Path, "crafted");
        await File.WriteAllBytesAsync(crafted, "crafted WAL"u8.ToArray(), Ct);
        File.CreateSymbolicLink(Path.Combine(spool, Segment), crafted);

        await AssertNotServedFromAsync(spool);
    }

    [Fact]
    public async Task A_spool_or_a_spooled_segment_owned_by_another_user_is_not_used()
    {
        Assert.SkipUnless(TestEnvironment.IsRoot, "needs root to give a directory to another user");
        var foreign = Path.Combine(_dir.Path, "foreign");
        var planted = Planted(foreign);
        File.SetUnixFileMode(foreign, PrivateFiles.DirectoryMode);
        Chown(foreign, "nobody");
        await AssertNotServedFromAsync(foreign);
        Assert.True(File.Exists(planted));
        await Assert.ThrowsAsync<PgVaultException>(() => WalFetcher.PrefetchAsync(new InMemoryObjectStore(), BackupId, Segment, 2, foreign, Ct));

        // A segment that someone else (root) put into this user's own spool: not one PgVault fetched and checked there.
        var own = PrivateFiles.EnsurePrivateDirectory(Path.Combine(_dir.Path, "own"), "test spool");
        var tampered = Planted(own);
        Chown(tampered, "nobody");
        await AssertNotServedFromAsync(own);
    }

    [Fact]
    public async Task Wal_fetch_ignores_segments_planted_in_the_old_shared_temp_path()
    {
        // The path wal-fetch used to take segments from without being told: /tmp/pgvault-prefetch/<backup id>.
        var shared = Path.Combine(Path.GetTempPath(), "pgvault-prefetch", BackupId);
        Planted(shared);
        try
        {
            var repository = Path.Combine(_dir.Path, "repository");
            Directory.CreateDirectory(repository);
            var pgWal = Directory.CreateDirectory(Path.Combine(_dir.Path, "pg_wal")).FullName;
            var destination = Path.Combine(pgWal, "RECOVERYXLOG");
            var (code, output) = await PgVaultProcess.RunAsync(
                ["wal-fetch", "--repository", repository, "--backup-id", BackupId, Segment, destination], new Dictionary<string, string?>());
            Assert.True(code != 0, "wal-fetch served a segment planted in the shared temp directory: " + output);
            Assert.False(File.Exists(destination));
            Assert.Equal(Path.Combine(pgWal, "pgvault-spool"), WalFetcher.DefaultSpool(destination));
        }
        finally
        {
            Directory.Delete(shared, recursive: true);
        }
    }

    [Fact]
    public void The_spool_is_created_private()
    {
        var spool = PrivateFiles.EnsurePrivateDirectory(Path.Combine(_dir.Path, "new-spool"), "test spool");
        Assert.Equal(PrivateFiles.DirectoryMode, File.GetUnixFileMode(spool));
        Assert.Equal(PrivateFiles.EffectiveUid, PrivateFiles.LStat(spool)!.Uid);
    }
}
