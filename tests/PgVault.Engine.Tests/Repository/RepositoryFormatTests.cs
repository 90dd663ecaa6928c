using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using PgVault.Catalog;
using PgVault.Catalog.Sqlite;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Compression;
using PgVault.Engine.Repository;
using PgVault.Engine.Restore;
using PgVault.Engine.Retention;
using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests.Repository;

/// <summary>
/// The format gate: a repository a newer PgVault wrote (a <c>chain.json</c> or <c>backup.json</c> of a higher
/// <c>formatVersion</c>, with fields this one does not know) is refused with <see cref="ErrorCode.RepositoryFormatTooNew"/>
/// by every path that reads metadata, and expiry deletes nothing of it.
/// </summary>
public sealed class RepositoryFormatTests : IDisposable
{
    private const string Cluster = "5c0ffee0-2c4a-4e8b-9f10-1a2b3c4d5e6f";
    private const string Chain = "newer234";
    private const string BackupId = Cluster + "-" + Chain + "-15";
    private const string Label = "20260101T000000000Z";
    private static readonly string Segment = WalSegment.Name(1, 3);

    private readonly TempDirectory _dir = new("format-gate");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private string RepositoryPath => Path.Combine(_dir.Path, "repository");

    /// <summary>A chain whose chain.json (or only its base backup's backup.json) a future PgVault wrote.</summary>
    private async Task<IObjectStore> PlantAsync(bool newerChain)
    {
        var store = new LocalObjectStore(RepositoryPath);
        var chainVersion = newerChain ? RepositoryFormat.ChainVersion + 1 : RepositoryFormat.ChainVersion;
        await WriteAsync(store, RepositoryLayout.Chain(Cluster, Chain), $$"""
            {
              "formatVersion": {{chainVersion}},
              "backupId": "{{BackupId}}",
              "clusterId": "{{Cluster}}",
              "chainId": "{{Chain}}",
              "systemIdentifier": "7300000000000000001",
              "timeline": 1,
              "startLsn": "0/3000000",
              "createdAt": "2026-01-01T00:00:00+00:00",
              "postgresMajor": "15",
              "location": "local",
              "walSegmentSizeBytes": {{(newerChain ? "{\"value\": 16777216, \"unit\": \"bytes\"}" : "16777216")}}
            }
            """);
        var segment = new byte[WalSegment.DefaultSizeBytes];
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(segment));
        await store.WriteCompressedAsync(RepositoryLayout.WalSegment(Cluster, Chain, 1, Segment, sha), new MemoryStream(segment),
            ZstdCodec.Default, Ct);
        await WriteAsync(store, RepositoryLayout.BaseBackupMetadata(Cluster, Chain, Label), $$"""
            {
              "formatVersion": {{RepositoryFormat.BaseBackupVersion + 1}},
              "backupId": "{{BackupId}}",
              "label": "{{Label}}",
              "timeline": 1,
              "startLsn": "0/3000028",
              "endLsn": "0/3000100",
              "startedAt": "2026-01-01T00:00:00+00:00",
              "completedAt": "2026-01-01T00:00:01+00:00",
              "databaseBytes": 1000,
              "parts": [{"key": "x", "sizeBytes": 1000, "storedBytes": 10, "sha256": "ab", "storedChecksum": true, "incremental": {"of": "older"} }],
              "manifest": {"key": "y", "sizeBytes": 1, "storedBytes": 1, "sha256": "cd"},
              "compression": "zstd",
              "parents": ["{{Label}}"]
            }
            """);
        await WriteAsync(store, RepositoryLayout.BaseBackupComplete(Cluster, Chain, Label), "2026-01-01T00:00:01.0000000+00:00");
        return store;
    }

    private static async Task WriteAsync(IObjectStore store, string key, string text) =>
        await store.WriteBytesAsync(key, Encoding.UTF8.GetBytes(text), Ct);

    /// <summary>The format <see cref="PlantAsync"/> writes <paramref name="file"/> in: one above what this PgVault reads.</summary>
    private static int NewerVersion(string file) =>
        file == "chain.json" ? RepositoryFormat.ChainVersion + 1 : RepositoryFormat.BaseBackupVersion + 1;

    [Fact]
    public void An_incremental_base_backup_is_format_2_which_a_format_1_reader_refuses_while_a_full_one_stays_readable()
    {
        var part = new BaseBackupPart("k", 1, 1, new string('a', 64));
        var full = new BaseBackupMetadata
        {
            BackupId = BackupId, Label = Label, Timeline = 1, StartLsn = "0/3000028", EndLsn = "0/3000100",
            StartedAt = DateTimeOffset.UnixEpoch, CompletedAt = DateTimeOffset.UnixEpoch, DatabaseBytes = 1, Parts = [part], Manifest = part,
            Compression = "zstd", BlockMap = part,
        };
        var incr = full with
        {
            FormatVersion = RepositoryFormat.IncrementalBaseBackupVersion, Type = BaseBackupType.Incr,
            References = ["20250101T000000000Z", "20250102T000000000Z"],
        };
        var fullJson = MetadataJson.Serialize(full, MetadataJson.Default.BaseBackupMetadata);
        var incrJson = MetadataJson.Serialize(incr, MetadataJson.Default.BaseBackupMetadata);
        var text = Encoding.UTF8.GetString(incrJson);
        Assert.Contains("\"formatVersion\": 2", text, StringComparison.Ordinal);
        Assert.Contains("\"type\": \"incr\"", text, StringComparison.Ordinal);
        Assert.Contains("\"references\": [", text, StringComparison.Ordinal);
        Assert.Contains("\"blockMap\": {", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"type\"", Encoding.UTF8.GetString(fullJson), StringComparison.Ordinal); // a format 1 reader sees what it knows

        // A PgVault that reads format 1 (every one before incremental base backups) refuses the incremental one ...
        RepositoryFormat.Check(fullJson, "backup.json", readable: 1);
        var ex = Assert.Throws<PgVaultException>(() => RepositoryFormat.Check(incrJson, "x/backup.json", readable: 1));
        AssertRefused(ex, "backup.json", 2);
        // ... and this one reads both back as written.
        RepositoryFormat.Check(incrJson, "backup.json", RepositoryFormat.BaseBackupVersion);
        var back = System.Text.Json.JsonSerializer.Deserialize(incrJson, MetadataJson.Default.BaseBackupMetadata)!;
        Assert.Equal(BaseBackupType.Incr, back.Type);
        Assert.Equal("20250102T000000000Z", back.Reference);
        Assert.Equal(BaseBackupType.Full, System.Text.Json.JsonSerializer.Deserialize(fullJson, MetadataJson.Default.BaseBackupMetadata)!.Type);
    }

    private static void AssertRefused(PgVaultException ex, string file, int version)
    {
        Assert.Equal(ErrorCode.RepositoryFormatTooNew, ex.Code);
        Assert.Equal("PGV-2008", ex.Code.Code);
        Assert.Contains($"/{file}' was written by a newer PgVault (format {version}); this one reads up to {version - 1}", ex.Message,
            StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, "chain.json")]
    [InlineData(false, "backup.json")]
    public async Task Scanning_refuses_metadata_of_a_newer_format(bool newerChain, string file)
    {
        var store = await PlantAsync(newerChain);
        var ex = await Assert.ThrowsAsync<PgVaultException>(() => RepositoryScanner.ScanAsync(store, Cluster, Ct));
        AssertRefused(ex, file, NewerVersion(file));
        ex = await Assert.ThrowsAsync<PgVaultException>(() => RepositoryScanner.ScanAsync(store, null, Ct));
        AssertRefused(ex, file, NewerVersion(file));
    }

    [Fact]
    public async Task Wal_fetch_refuses_a_chain_of_a_newer_format()
    {
        var store = await PlantAsync(newerChain: true);
        var ex = await Assert.ThrowsAsync<PgVaultException>(() =>
            WalFetcher.FetchAsync(store, BackupId, Segment, Path.Combine(_dir.Path, "fetched"), Ct));
        AssertRefused(ex, "chain.json", 2);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "fetched")));
    }

    [Theory]
    [InlineData(true, "chain.json")]
    [InlineData(false, "backup.json")]
    public async Task Expiry_and_catalog_rebuild_refuse_and_change_nothing(bool newerChain, string file)
    {
        var store = await PlantAsync(newerChain);
        var before = await store.ListAsync("", Ct).Select(o => o.Key).ToListAsync(Ct);
        var options = new PgVaultOptions { Clusters = [] }; // the cluster is no longer configured: its chains may go whole
        PgVaultOptionsValidator.ApplyDefaults(options);
        var catalog = new SqliteCatalog($"Data Source={Path.Combine(_dir.Path, "catalog.db")}");
        await catalog.MigrateAsync(Ct);
        var later = new ManualClock(DateTimeOffset.UtcNow.AddYears(5));
        var locations = new Dictionary<string, IObjectStore> { ["local"] = store };

        var expire = await Assert.ThrowsAsync<PgVaultException>(() =>
            new ExpiryRunner(options, locations, catalog, later, NullLogger.Instance).RunAsync(null, dryRun: false, null, Ct));
        AssertRefused(expire, file, NewerVersion(file));
        Assert.Equal(before, await store.ListAsync("", Ct).Select(o => o.Key).ToListAsync(Ct));

        var row = new BackupRecord
        {
            Id = BackupId, ClusterId = Cluster, CreatedDate = DateTimeOffset.UtcNow, State = BackupState.Available, Version = "15",
            IsActive = true, Location = "local",
        };
        await catalog.SaveBackupsAsync([row], Ct);
        var rebuild = await Assert.ThrowsAsync<PgVaultException>(() => CatalogRebuilder.RebuildAsync(catalog, locations, options, later, Ct));
        AssertRefused(rebuild, file, NewerVersion(file));
        Assert.NotNull(await catalog.GetBackupAsync(BackupId, Ct)); // not removed as "no longer in the repository"
    }

    [Fact]
    public async Task Serve_does_not_stream_into_a_chain_of_a_newer_format()
    {
        var store = await PlantAsync(newerChain: true);
        var catalog = new SqliteCatalog($"Data Source={Path.Combine(_dir.Path, "catalog.db")}");
        await catalog.MigrateAsync(Ct);
        await catalog.SaveBackupsAsync([new BackupRecord
        {
            Id = BackupId, ClusterId = Cluster, CreatedDate = DateTimeOffset.UtcNow, State = BackupState.Available, Version = "15",
            IsActive = true, Location = "local", SystemIdentifier = "7300000000000000001", Timeline = 1, StartLsn = 0x3000000, EndLsn = 0x3000100,
        }], Ct);
        var options = new PgVaultOptions { Clusters = [new ClusterOptions { Id = Cluster, ConnectionString = "Host=unused" }] };
        PgVaultOptionsValidator.ApplyDefaults(options);
        var chain = new ClusterChain(options.Clusters[0], store, catalog, options.Engine, TimeProvider.System, NullLogger.Instance);

        var ex = await Assert.ThrowsAsync<PgVaultException>(() =>
            chain.EnsureChainAsync("7300000000000000001", 1, new Lsn(0x3000100), "15", _ => Task.FromResult(""), Ct));
        AssertRefused(ex, "chain.json", 2);
        Assert.Null(chain.Current);
    }

    public static TheoryData<string[]> Commands => new()
    {
        { ["verify"] },
        { ["verify", "--backup-id", BackupId] },
        { ["catalog", "rebuild"] },
        { ["expire"] },
        { ["restore", "--backup-id", BackupId, "--to", "RESTORE_TARGET"] },
        { ["wal-fetch", "--location", "local", "--backup-id", BackupId, Segment, "FETCH_TARGET"] },
    };

    [Theory]
    [MemberData(nameof(Commands))]
    [Trait("Category", "Cli")]
    public async Task Every_command_refuses_a_repository_of_a_newer_format(string[] command)
    {
        var store = await PlantAsync(newerChain: true);
        var before = await store.ListAsync("", Ct).Select(o => o.Key).ToListAsync(Ct);
        var args = command.Select(a => a.Replace("RESTORE_TARGET", Path.Combine(_dir.Path, "restored"), StringComparison.Ordinal)
            .Replace("FETCH_TARGET", Path.Combine(_dir.Path, "fetched"), StringComparison.Ordinal)).ToArray();
        var settings = new Dictionary<string, string?>
        {
            ["PgVault:DataDirectory"] = _dir.Path,
            ["PgVault:Engine:Enabled"] = "false",
            ["PgVault:Clusters:0:Id"] = Cluster,
            ["PgVault:Clusters:0:ConnectionString"] = "Host=127.0.0.1;Port=1",
        };

        var (code, output) = await PgVaultProcess.RunAsync(args, settings);

        Assert.True(code != 0, output);
        if (command[0] == "wal-fetch")
            Assert.Equal(WalFetcher.Fatal, code); // not 1, which PostgreSQL takes for "no such file" and ends recovery early
        Assert.Contains("PGV-2008", output, StringComparison.Ordinal);
        Assert.Contains("was written by a newer PgVault (format 2); this one reads up to 1", output, StringComparison.Ordinal);
        Assert.Equal(before, await store.ListAsync("", Ct).Select(o => o.Key).ToListAsync(Ct));
    }
}
