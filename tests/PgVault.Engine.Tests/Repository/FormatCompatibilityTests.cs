using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using PgVault.Catalog;
using PgVault.Catalog.Sqlite;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Compression;
using PgVault.Engine.Repository;
using PgVault.Engine.Restore;
using PgVault.Engine.Storage;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests.Repository;

/// <summary>
/// A repository in the format PgVault wrote at <c>e42f901</c> (format 1 of every metadata object), built here from its
/// JSON text and keys as they were written then, not through today's writers: today's readers must read every field
/// of it, verify it and serve its WAL byte for byte.
/// </summary>
public sealed class FormatCompatibilityTests : IDisposable
{
    private const string Cluster = "0e42f901-2c4a-4e8b-9f10-1a2b3c4d5e6f";
    private const string Chain = "k3m9pq2x";
    private const string BackupId = Cluster + "-" + Chain + "-15";
    private const string Label = "20260102T030405678Z";
    private const string Prefix = "clusters/" + Cluster + "/chains/" + Chain + "/";

    private readonly TempDirectory _dir = new("format-e42f901");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }

    private sealed record Fixture(IObjectStore Store, byte[] Segment3, byte[] Segment4, byte[] Head, string History);

    /// <summary>
    /// Timeline 1 from 0/3000000: segments 3 and 4 whole, segment 5 as two pieces (the head); a timeline-2 history file;
    /// one base backup (one part, the manifest, backup.json, backup.complete) and an expiry.json, all as e42f901 wrote them.
    /// </summary>
    private async Task<Fixture> WriteAsync()
    {
        var store = new LocalObjectStore(Path.Combine(_dir.Path, "repository"));
        await Text(store, Prefix + "chain.json", $$"""
            {
              "formatVersion": 1,
              "backupId": "{{BackupId}}",
              "clusterId": "{{Cluster}}",
              "chainId": "{{Chain}}",
              "systemIdentifier": "7301234567890123456",
              "timeline": 1,
              "startLsn": "0/3000000",
              "createdAt": "2026-01-02T03:00:00+00:00",
              "postgresMajor": "15",
              "location": "local",
              "walSegmentSizeBytes": 16777216
            }
            """);

        var segment3 = RandomNumberGenerator.GetBytes((int)WalSegment.DefaultSizeBytes);
        var segment4 = RandomNumberGenerator.GetBytes((int)WalSegment.DefaultSizeBytes);
        await Compressed(store, $"{Prefix}wal/00000001/000000010000000000000003-{Sha(segment3)}.zst", segment3);
        await Compressed(store, $"{Prefix}wal/00000001/000000010000000000000004-{Sha(segment4)}.zst", segment4);
        var head = RandomNumberGenerator.GetBytes(0x2A000);
        await Compressed(store, $"{Prefix}wal/00000001/000000010000000000000005.partial/00000000-00010000-{Sha(head.AsSpan(0, 0x10000))}.zst",
            head.AsSpan(0, 0x10000).ToArray());
        await Compressed(store, $"{Prefix}wal/00000001/000000010000000000000005.partial/00010000-0002A000-{Sha(head.AsSpan(0x10000))}.zst",
            head.AsSpan(0x10000).ToArray());
        const string history = "1\t0/5020000\tno recovery target specified\n";
        await Text(store, $"{Prefix}wal/history/00000002.history", history);

        // The base backup: a tar (PgVault compressed it), PostgreSQL's manifest beside it.
        var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, content) in new[] { ("backup_label", "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n"), ("PG_VERSION", "15\n") })
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) }, Ct);
        }

        var tarBytes = tar.ToArray();
        var part = await Compressed(store, $"{Prefix}base/{Label}/data.00000.tar.zst", tarBytes);
        var manifestBytes = Encoding.UTF8.GetBytes("{ \"PostgreSQL-Backup-Manifest-Version\": 1, \"Files\": [] }\n");
        var manifest = await Compressed(store, $"{Prefix}base/{Label}/backup_manifest.zst", manifestBytes);
        await Text(store, $"{Prefix}base/{Label}/backup.json", $$"""
            {
              "formatVersion": 1,
              "backupId": "{{BackupId}}",
              "label": "{{Label}}",
              "timeline": 1,
              "startLsn": "0/3000028",
              "endLsn": "0/3000100",
              "startedAt": "2026-01-02T03:04:05.678+00:00",
              "completedAt": "2026-01-02T03:05:00+00:00",
              "databaseBytes": {{tarBytes.Length}},
              "parts": [
                {
                  "key": "{{Prefix}}base/{{Label}}/data.00000.tar.zst",
                  "sizeBytes": {{tarBytes.Length}},
                  "storedBytes": {{part}},
                  "sha256": "{{Sha(tarBytes)}}"
                }
              ],
              "manifest": {
                "key": "{{Prefix}}base/{{Label}}/backup_manifest.zst",
                "sizeBytes": {{manifestBytes.Length}},
                "storedBytes": {{manifest}},
                "sha256": "{{Sha(manifestBytes)}}"
              },
              "compression": "zstd",
              "nextXid": 4294968000
            }
            """);
        await Text(store, $"{Prefix}base/{Label}/backup.complete", "2026-01-02T03:05:00.0000000+00:00");
        await Text(store, Prefix + "expiry.json", """
            {
              "formatVersion": 1,
              "walStartLsn": "0/3000000",
              "expiredAt": "2026-01-03T00:00:00+00:00"
            }
            """);
        return new Fixture(store, segment3, segment4, head, history);
    }

    [Fact]
    public async Task Every_field_is_read()
    {
        var f = await WriteAsync();
        var chain = Assert.Single(await RepositoryScanner.ScanAsync(f.Store, null, Ct));

        var m = chain.Metadata!;
        Assert.Equal((1, BackupId, Cluster, Chain, "7301234567890123456", 1u, "0/3000000", "15", "local", WalSegment.DefaultSizeBytes),
            (m.FormatVersion, m.BackupId, m.ClusterId, m.ChainId, m.SystemIdentifier, m.Timeline, m.StartLsn, m.PostgresMajor, m.Location,
                m.WalSegmentSizeBytes));
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 3, 0, 0, TimeSpan.Zero), m.CreatedAt);
        Assert.Equal(("0/3000000", 1), (chain.Expiry!.WalStartLsn, chain.Expiry.FormatVersion));

        Assert.Equal(4, chain.Wal.Count);
        Assert.Equal(2, chain.Wal.Count(w => w.Partial));
        Assert.Equal(WalSegment.Start(5) + 0x2A000, chain.DurableEnd);
        Assert.Equal([Prefix + "wal/history/00000002.history"], chain.HistoryKeys);
        Assert.Empty(chain.UnknownKeys);

        var b = Assert.Single(chain.BaseBackups);
        Assert.True(b.Complete);
        Assert.Equal((Label, 1u, "0/3000028", "0/3000100", "zstd", 4294968000UL), (b.Metadata!.Label, b.Metadata.Timeline, b.Metadata.StartLsn,
            b.Metadata.EndLsn, b.Metadata.Compression, b.Metadata.NextXid));
        Assert.False(Assert.Single(b.Metadata.Parts).StoredChecksum);
        Assert.Equal(4, b.Objects.Count);

        var plan = RestorePlanner.Plan(chain, new RestoreTarget.Latest(), DateTimeOffset.UtcNow);
        Assert.Equal(Label, plan.BaseBackup.Label);
    }

    [Fact]
    public async Task It_verifies_clean_and_its_WAL_is_served_byte_for_byte()
    {
        var f = await WriteAsync();
        var chain = Assert.Single(await RepositoryScanner.ScanAsync(f.Store, null, Ct));
        var report = await ChainVerifier.VerifyAsync(f.Store, chain, null, Ct);
        Assert.True(report.Ok, string.Join("\n", report.Findings.Select(x => x.Message)));
        Assert.Equal(6, report.ObjectsChecked); // 2 segments, 2 pieces, the part, the manifest

        var to = Path.Combine(_dir.Path, "fetched");
        Assert.Equal(0, (await WalFetcher.FetchAsync(f.Store, BackupId, WalSegment.Name(1, 4), to, Ct)).Code);
        Assert.Equal(f.Segment4, await File.ReadAllBytesAsync(to, Ct));
        Assert.Equal(0, (await WalFetcher.FetchAsync(f.Store, BackupId, WalSegment.Name(1, 5), to, Ct)).Code);
        var head = await File.ReadAllBytesAsync(to, Ct);
        Assert.Equal(f.Head, head[..f.Head.Length]);
        Assert.All(head[f.Head.Length..], x => Assert.Equal(0, x));
        Assert.Equal(0, (await WalFetcher.FetchAsync(f.Store, BackupId, "00000002.history", to, Ct)).Code);
        Assert.Equal(f.History, await File.ReadAllTextAsync(to, Ct));
        Assert.Equal(WalFetcher.NotFound, (await WalFetcher.FetchAsync(f.Store, BackupId, WalSegment.Name(1, 6), to, Ct)).Code);

        var segment = await new ChainRepository(f.Store, Cluster, Chain).ReadWalSegmentAsync(1, 3, Ct);
        Assert.Equal(f.Segment3, segment!.Value.Data);
    }

    [Fact]
    public async Task The_catalog_is_rebuilt_from_it()
    {
        var f = await WriteAsync();
        var catalog = new SqliteCatalog($"Data Source={Path.Combine(_dir.Path, "catalog.db")}");
        await catalog.MigrateAsync(Ct);
        var options = new PgVaultOptions { Clusters = [new ClusterOptions { Id = Cluster, ConnectionString = "Host=unused" }] };
        PgVaultOptionsValidator.ApplyDefaults(options);
        await CatalogRebuilder.RebuildAsync(catalog, new Dictionary<string, IObjectStore> { ["local"] = f.Store }, options, TimeProvider.System, Ct);

        var row = await catalog.GetBackupAsync(BackupId, Ct);
        Assert.NotNull(row);
        Assert.Equal((Cluster, "15", "7301234567890123456", true), (row.ClusterId, row.Version, row.SystemIdentifier, row.IsActive));
        Assert.Equal((WalSegment.Start(3).Value, (WalSegment.Start(5) + 0x2A000).Value), (row.StartLsn!.Value, row.EndLsn!.Value));
        var baseBackup = Assert.Single(await catalog.ListBaseBackupsAsync(BackupId, Ct));
        Assert.Equal((Label, BaseBackupState.Complete), (baseBackup.Label, baseBackup.State));
    }

    private static string Sha(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static async Task Text(IObjectStore store, string key, string text) =>
        await store.WriteBytesAsync(key, Encoding.UTF8.GetBytes(text), Ct);

    /// <summary>Writes <paramref name="data"/> zstd-compressed (one frame, as PgVault writes); returns the stored size.</summary>
    private static async Task<long> Compressed(IObjectStore store, string key, byte[] data) =>
        (await store.WriteCompressedAsync(key, new MemoryStream(data), ZstdCodec.Default, Ct)).CompressedBytes;
}
