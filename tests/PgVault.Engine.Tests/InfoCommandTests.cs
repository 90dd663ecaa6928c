using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Postgres;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary><c>pgvault info</c>: the repository's own account of each backup, its base backups and WAL ranges.</summary>
public sealed class InfoCommandTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Every property of the version 1 document, as a path. Changing this list is changing the schema.</summary>
    private static readonly string[] SchemaV1 =
    [
        "version",
        "backups",
        "backups[].backupId",
        "backups[].clusterId",
        "backups[].chainId",
        "backups[].postgresMajor",
        "backups[].location",
        "backups[].systemIdentifier",
        "backups[].createdAt",
        "backups[].recoveryWindow",
        "backups[].recoveryWindow.earliestTime",
        "backups[].recoveryWindow.earliestLsn",
        "backups[].recoveryWindow.latestLsn",
        "backups[].recoveryWindow.walStoredAt",
        "backups[].storedBytes",
        "backups[].walStoredBytes",
        "backups[].state",
        "backups[].baseBackups",
        "backups[].baseBackups[].label",
        "backups[].baseBackups[].complete",
        "backups[].baseBackups[].timeline",
        "backups[].baseBackups[].startLsn",
        "backups[].baseBackups[].stopLsn",
        "backups[].baseBackups[].startTime",
        "backups[].baseBackups[].stopTime",
        "backups[].baseBackups[].durationSeconds",
        "backups[].baseBackups[].databaseBytes",
        "backups[].baseBackups[].storedBytes",
        "backups[].baseBackups[].compression",
        "backups[].baseBackups[].type",
        "backups[].baseBackups[].keep",
        "backups[].baseBackups[].annotations",
        "backups[].baseBackups[].restorable",
        "backups[].baseBackups[].reachesLsn",
        "backups[].wal",
        "backups[].wal[].timeline",
        "backups[].wal[].firstSegment",
        "backups[].wal[].lastSegment",
        "backups[].wal[].startLsn",
        "backups[].wal[].endLsn",
        "backups[].wal[].segments",
        "backups[].wal[].storedBytes",
        "backups[].wal[].missing",
    ];

    [Fact]
    public async Task The_json_document_has_exactly_the_version_1_properties()
    {
        var repo = new SyntheticRepository(new InMemoryObjectStore(), new ManualClock(DateTimeOffset.UtcNow), Guid.NewGuid().ToString());
        await repo.StartChainAsync("c1", 2);
        await repo.BaseBackupAsync("20261201T100000000Z");
        await repo.WalAsync();
        await repo.WalAsync();
        await repo.PartialAsync(4096);
        var document = new InfoDocument(RepositoryInfo.JsonVersion, [RepositoryInfo.Describe(await repo.ScanAsync(), "local")]);

        var json = JsonNode.Parse(RepositoryInfo.Serialize(document))!;
        Assert.Equal(1, json["version"]!.GetValue<int>());
        Assert.Equal(SchemaV1.Order(StringComparer.Ordinal), Paths(json, "").Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Describes_the_recovery_window_base_backups_and_wal_and_names_a_missing_segment()
    {
        var store = new InMemoryObjectStore();
        var clock = new ManualClock(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));
        var repo = new SyntheticRepository(store, clock, Guid.NewGuid().ToString());
        await repo.StartChainAsync("c1", 2);
        var first = await repo.BaseBackupAsync("20261201T100000000Z");
        await repo.BaseBackupAsync("20261201T101000000Z", complete: false, withMetadata: false);
        for (var i = 0; i < 4; i++)
            await repo.WalAsync(); // segments 2, 3, 4, 5
        await repo.PartialAsync(8192); // the head, segment 6

        var info = RepositoryInfo.Describe(await repo.ScanAsync(), "local");
        Assert.Equal(repo.BackupId, info.BackupId);
        Assert.Equal("15", info.PostgresMajor);
        Assert.Equal(first.CompletedAt, info.RecoveryWindow.EarliestTime);
        Assert.Equal(first.EndLsn, info.RecoveryWindow.EarliestLsn);
        Assert.Equal((WalSegment.Start(6) + 8192).ToString(), info.RecoveryWindow.LatestLsn);
        Assert.Equal(2, info.BaseBackups.Count);
        var complete = info.BaseBackups[0];
        Assert.True(complete.Complete);
        Assert.Equal(600, complete.DurationSeconds);
        Assert.Equal(5000, complete.DatabaseBytes);
        Assert.Equal(SyntheticRepository.PartBytes + SyntheticRepository.PartBytes / 10, complete.StoredBytes);
        Assert.False(info.BaseBackups[1].Complete);
        Assert.Null(info.BaseBackups[1].StopLsn);
        var wal = Assert.Single(info.Wal);
        Assert.Equal(WalSegment.Name(1, 2), wal.FirstSegment);
        Assert.Equal(WalSegment.Name(1, 6), wal.LastSegment);
        Assert.Equal(5, wal.Segments);
        Assert.Empty(wal.Missing);

        // A segment lost between the first and the last is a gap; the text says so.
        var lost = (await repo.ScanAsync()).Wal.Single(w => w.Segment == 4).Key;
        await store.DeleteAsync([lost], Ct);
        var gapped = RepositoryInfo.Describe(await repo.ScanAsync(), "local");
        Assert.Equal([WalSegment.Name(1, 4)], Assert.Single(gapped.Wal).Missing);
        var text = PgVault.Commands.InfoCommand.Text([gapped]);
        Assert.Contains($"GAP: 1 segment(s) missing: {WalSegment.Name(1, 4)}", text, StringComparison.Ordinal);
        Assert.Contains("base backup 20261201T100000000Z: timeline 1, ", text, StringComparison.Ordinal);
        Assert.Contains("base backup 20261201T101000000Z: incomplete", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ranges_are_per_timeline_and_the_old_timelines_partial_last_segment_is_no_gap()
    {
        var repo = new SyntheticRepository(new InMemoryObjectStore(), new ManualClock(DateTimeOffset.UtcNow), Guid.NewGuid().ToString());
        await repo.StartChainAsync("c1", 2);
        await repo.BaseBackupAsync("20261201T100000000Z");
        await repo.WalAsync();
        await repo.PartialAsync(4096); // timeline 1 ends inside segment 3
        await repo.SwitchTimelineAsync(2);
        await repo.WalAsync(); // segment 3 on timeline 2
        await repo.WalAsync();

        var ranges = RepositoryInfo.Describe(await repo.ScanAsync(), "local").Wal;
        Assert.Equal([1u, 2u], ranges.Select(r => r.Timeline));
        Assert.Equal((WalSegment.Start(3) + 4096).ToString(), ranges[0].EndLsn);
        Assert.All(ranges, r => Assert.Empty(r.Missing));
        Assert.Equal(WalSegment.Name(2, 3), ranges[1].FirstSegment);
        Assert.Equal(WalSegment.Start(5).ToString(), ranges[1].EndLsn);
    }

    [Fact]
    [Trait("Category", "Postgres")]
    public async Task Info_describes_a_real_backup_with_serve_running_and_without_it_and_an_empty_repository_is_an_error()
    {
        await using var pg = await PostgresCluster.StartAsync("info", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "1", "-q");
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("info-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        var cli = new Dictionary<string, string?>(settings) { ["PgVault:DataDirectory"] = data.Path, ["PgVault:Engine:Enabled"] = "false" };
        string backupId;
        string label;
        await using (var server = await ApiServer.StartAsync("info", settings, dataDirectory: data))
        {
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
                Bounded, "the first base backup");
            await Pg.PgbenchAsync(pg, "-c", "2", "-t", "200", "-n");
            var switched = Lsn.Parse(await Pg.ScalarAsync<string>(pg, "SELECT pg_switch_wal()::text"));
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= switched.Value, Bounded,
                "the switched segment in the repository");
            await Wait.FinishedSegmentsWholeAsync(new LocalObjectStore(Path.Combine(data.Path, "repository")), clusterId, Bounded);
            backupId = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
            label = Assert.Single(await server.Catalog.ListBaseBackupsAsync(backupId, Ct)).Label;

            // Beside a running serve: the repository alone, no catalog.
            var (code, output) = await PgVaultProcess.RunAsync(["info", "--output", "json"], cli);
            Assert.True(code == 0, output);
            var json = JsonNode.Parse(output)!;
            Assert.Equal(1, json["version"]!.GetValue<int>());
            var backup = Assert.Single(json["backups"]!.AsArray())!;
            Assert.Equal(backupId, backup["backupId"]!.GetValue<string>());
            Assert.Equal(clusterId, backup["clusterId"]!.GetValue<string>());
            Assert.Equal("15", backup["postgresMajor"]!.GetValue<string>());
            var baseBackup = Assert.Single(backup["baseBackups"]!.AsArray())!;
            Assert.Equal(label, baseBackup["label"]!.GetValue<string>());
            Assert.True(baseBackup["complete"]!.GetValue<bool>());
            Assert.True(baseBackup["databaseBytes"]!.GetValue<long>() > 0);
            Assert.True(Lsn.Parse(backup["recoveryWindow"]!["latestLsn"]!.GetValue<string>()) >= switched);
            var wal = backup["wal"]!.AsArray();
            Assert.NotEmpty(wal);
            Assert.All(wal, r => Assert.Empty(r!["missing"]!.AsArray()));
        }

        // Without serve, text, one backup by id: names the base backup; no gap.
        var (textCode, text) = await PgVaultProcess.RunAsync(["info", "--backup-id", backupId], cli);
        Assert.True(textCode == 0, text);
        Assert.Contains($"backup {backupId}", text, StringComparison.Ordinal);
        Assert.Contains($"base backup {label}: timeline 1, ", text, StringComparison.Ordinal);
        Assert.Contains("no gap", text, StringComparison.Ordinal);
        Assert.DoesNotContain("GAP", text, StringComparison.Ordinal);

        // Another cluster has nothing in this repository: says so, exit 1.
        var (none, noneOutput) = await PgVaultProcess.RunAsync(["info", "--cluster", Guid.NewGuid().ToString()], cli);
        Assert.True(none == 1, noneOutput);
        Assert.Contains("no backup of cluster", noneOutput, StringComparison.Ordinal);
    }

    private static IEnumerable<string> Paths(JsonNode node, string path)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, value) in o)
                {
                    var p = path.Length == 0 ? name : path + "." + name;
                    yield return p;
                    if (value is not null)
                    {
                        foreach (var inner in Paths(value, p))
                            yield return inner;
                    }
                }

                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    if (item is null)
                        continue;
                    foreach (var inner in Paths(item, path + "[]"))
                        yield return inner;
                }

                break;
        }
    }
}
