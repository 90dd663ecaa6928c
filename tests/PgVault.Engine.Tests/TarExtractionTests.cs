using System.Formats.Tar;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using PgVault.Engine.Chains;
using PgVault.Engine.Compression;
using PgVault.Engine.Repository;
using PgVault.Engine.Restore;
using PgVault.Errors;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// A base backup's tar comes from the repository, which someone else may write (a shared directory, a bucket): crafted
/// tars with links must not make a restore (often run as root) write outside the target directory.
/// </summary>
[Trait("Category", "Security")]
public sealed class TarExtractionTests : IDisposable
{
    private readonly TempDirectory _dir = new("tar-sec");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private string Outside => Directory.CreateDirectory(Path.Combine(_dir.Path, "outside")).FullName;

    private string Target => Path.Combine(_dir.Path, "target");

    private static TarEntry Dir(string name) => new PaxTarEntry(TarEntryType.Directory, name) { Mode = PrivateDirectoryMode };

    private static TarEntry File(string name, string text) =>
        new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), Mode = PrivateFileMode };

    private static TarEntry Link(string name, string target) => new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target };

    private const UnixFileMode PrivateFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode PrivateDirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>A repository holding one base backup whose single part is the tar of <paramref name="entries"/>.</summary>
    private static async Task<(InMemoryObjectStore Store, RestorePlan Plan)> BackupOfAsync(params TarEntry[] entries)
    {
        var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var e in entries)
                await writer.WriteEntryAsync(e, Ct);
        }

        var store = new InMemoryObjectStore();
        var part = await StoreCompressedAsync(store, "c/x/base/l1/part-0000.tar.zst", tar.ToArray());
        var manifest = await StoreCompressedAsync(store, "c/x/base/l1/backup_manifest.zst", "{}"u8.ToArray());
        var metadata = new BaseBackupMetadata
        {
            BackupId = Guid.NewGuid() + "-x-15", Label = "l1", Timeline = 1, StartLsn = "0/2000028", EndLsn = "0/2000100",
            StartedAt = DateTimeOffset.UtcNow, CompletedAt = DateTimeOffset.UtcNow, DatabaseBytes = tar.Length,
            Parts = [part], Manifest = manifest, Compression = "zstd",
        };
        return (store, new RestorePlan(new ScannedBaseBackup("l1", "c/x/base/l1/", metadata, true, part.StoredBytes), []));
    }

    private static async Task<BaseBackupPart> StoreCompressedAsync(InMemoryObjectStore store, string key, byte[] content)
    {
        var compressed = new MemoryStream();
        await using (var z = ZstdCodec.Default.CreateCompressor(compressed, leaveOpen: true))
            await z.WriteAsync(content, Ct);
        compressed.Position = 0;
        await store.WriteAsync(key, compressed, Ct);
        return new BaseBackupPart(key, content.Length, compressed.Length, Convert.ToHexStringLower(SHA256.HashData(content)));
    }

    private Task<long> RestoreAsync(InMemoryObjectStore store, RestorePlan plan, IReadOnlySet<string>? tablespaces = null) =>
        new RestoreExecutor(store, NullLogger.Instance, directIo: false, tablespaceLocations: tablespaces)
            .RestoreAsync(plan, Target, "/bin/false", force: false, progress: null, Ct);

    private async Task AssertRefusedAsync(InMemoryObjectStore store, RestorePlan plan, IReadOnlySet<string>? tablespaces = null)
    {
        var ex = await Assert.ThrowsAsync<PgVaultException>(() => RestoreAsync(store, plan, tablespaces));
        Assert.Equal(ErrorCode.ObjectCorrupt, ex.Code);
    }

    /// <summary>
    /// A restore makes what it wrote durable (syncfs) before it returns. Whether data reached the device cannot be seen
    /// from a test short of cutting the power, so this checks that the path runs: its log line comes after every file.
    /// </summary>
    [Fact]
    public async Task A_restore_syncs_what_it_wrote_before_it_returns()
    {
        var (store, plan) = await BackupOfAsync(Dir("base"), File("base/1", "data"), File("PG_VERSION", "15\n"));
        var logger = new ListLogger();
        await new RestoreExecutor(store, logger, directIo: false).RestoreAsync(plan, Target, "/bin/false", force: false, progress: null, Ct);

        var synced = Assert.Single(logger.Lines, l => l.Contains("is on disk (syncfs)", StringComparison.Ordinal));
        Assert.Equal(logger.Lines[^1], synced); // after recovery.signal and the settings: the last thing the restore did
        Assert.True(System.IO.File.Exists(Path.Combine(Target, "recovery.signal")));
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
                Lines.Add(formatter(state, exception));
        }
    }

    [Fact]
    public async Task A_link_to_elsewhere_then_a_file_through_it_writes_nothing_outside()
    {
        var outside = Outside;
        var (store, plan) = await BackupOfAsync(Dir("pg_tblspc/"), Link("pg_tblspc/16384", outside), File("pg_tblspc/16384/evil", "x"));

        await AssertRefusedAsync(store, plan);

        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
    }

    [Fact]
    public async Task A_link_over_a_file_the_restore_writes_itself_is_refused()
    {
        // postgresql.auto.conf is rewritten by the restore (its recovery settings): a link there would aim that write anywhere.
        var victim = Path.Combine(Outside, "victim.conf");
        await System.IO.File.WriteAllTextAsync(victim, "untouched", Ct);
        var (store, plan) = await BackupOfAsync(File("PG_VERSION", "15\n"), Link("postgresql.auto.conf", victim));

        await AssertRefusedAsync(store, plan);

        Assert.Equal("untouched", await System.IO.File.ReadAllTextAsync(victim, Ct));
    }

    [Fact]
    public async Task A_link_then_a_directory_and_a_file_through_it_is_refused()
    {
        var outside = Outside;
        var (store, plan) = await BackupOfAsync(Link("base", outside), Dir("base/1/"), File("base/1/1259", "x"));

        await AssertRefusedAsync(store, plan);

        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
    }

    [Fact]
    public async Task A_tablespace_link_is_created_only_to_a_mapped_location_and_nothing_is_written_through_it()
    {
        var location = Outside;
        var (store, plan) = await BackupOfAsync(Dir("pg_tblspc/"), Link("pg_tblspc/16384", location));
        await AssertRefusedAsync(store, plan); // no location mapped

        var (store2, plan2) = await BackupOfAsync(Dir("pg_tblspc/"), Link("pg_tblspc/16384", location));
        Directory.Delete(Target, recursive: true);
        await RestoreAsync(store2, plan2, new HashSet<string>(StringComparer.Ordinal) { location });
        Assert.Equal(location, new FileInfo(Path.Combine(Target, "pg_tblspc", "16384")).LinkTarget);

        var (store3, plan3) = await BackupOfAsync(Dir("pg_tblspc/"), Link("pg_tblspc/16384", location), File("pg_tblspc/16384/PG_15/1/1259", "x"));
        Directory.Delete(Target, recursive: true);
        await AssertRefusedAsync(store3, plan3, new HashSet<string>(StringComparer.Ordinal) { location });
        Assert.Empty(Directory.EnumerateFileSystemEntries(location));
    }

    [Fact]
    public async Task A_plain_backup_restores_its_files_and_directories()
    {
        var (store, plan) = await BackupOfAsync(Dir("base/"), Dir("base/1/"), File("base/1/1259", "data"), File("PG_VERSION", "15\n"));

        await RestoreAsync(store, plan);

        Assert.Equal("data", await System.IO.File.ReadAllTextAsync(Path.Combine(Target, "base", "1", "1259"), Ct));
        Assert.Contains("restore_command = '/bin/false'", await System.IO.File.ReadAllTextAsync(Path.Combine(Target, "postgresql.auto.conf"), Ct),
            StringComparison.Ordinal);
    }
}
