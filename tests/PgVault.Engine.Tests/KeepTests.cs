using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Restore;
using PgVault.Engine.Retention;
using PgVault.Hosting;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// <c>pgvault annotate --keep</c> against a real PostgreSQL and a running engine: three real base backups with marker rows
/// between them; the oldest is kept; expiry (with a clock days ahead) deletes the middle one and the WAL between, but never
/// the kept one nor the WAL from its start to its stop LSN; <c>info</c>, the API and the dry run show it; <c>--no-keep</c>
/// releases it.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class KeepTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<DateTimeOffset> InsertMarkerAsync(PostgresCluster pg, int n)
    {
        await pg.ExecuteAsync($"INSERT INTO marker VALUES ({n}, clock_timestamp())", ct: Ct);
        await pg.ExecuteAsync("SELECT pg_switch_wal()", ct: Ct); // WAL between the base backups, for expiry to delete
        return DateTimeOffset.Parse(await Pg.ScalarAsync<string>(pg,
                "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), pg_sleep(0.2)::text"),
            CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);
    }

    [Fact]
    public async Task Expiry_never_deletes_a_kept_base_backup_nor_the_WAL_that_makes_it_consistent()
    {
        await using var pg = await PostgresCluster.StartAsync("keep", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY, at timestamptz NOT NULL)", ct: Ct);
        await pg.ExecuteAsync("INSERT INTO marker VALUES (0, clock_timestamp())", ct: Ct); // in the first base backup, which is kept
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("keep-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:Engine:ExpirySchedule"] = ""; // the test runs expiry itself, with its clock
        await using var server = await ApiServer.StartAsync("keep", settings, dataDirectory: data);
        var engine = server.Services.GetRequiredService<BackupEngine>();
        var options = server.Services.GetRequiredService<PgVaultOptions>();
        var store = server.Services.GetRequiredService<LocationStores>().Get("local");
        var worker = engine.Find(clusterId)!;
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
            Bounded, "the first base backup");
        var backupId = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
        var committed = new List<DateTimeOffset>();
        for (var k = 1; k <= 3; k++)
        {
            committed.Add(await InsertMarkerAsync(pg, k));
            committed.Add(await InsertMarkerAsync(pg, 10 + k)); // two switches: whole segments between base backups
            if (k == 3)
                break;
            await worker.WaitForBaseBackupAsync();
            Assert.True(worker.TryStartBaseBackup("keep test", null, Ct));
            var expected = k + 1;
            await Wait.UntilAsync(async () => (await server.Catalog.ListBaseBackupsAsync(backupId, Ct)).Count(b => b.State == BaseBackupState.Complete) == expected,
                Bounded, $"base backup {expected}");
        }

        var insert = await Pg.InsertLsnAsync(pg);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= insert.Value, Bounded,
            $"the repository's WAL to reach {insert}");
        var bases = (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single().BaseBackups.Where(b => b.Complete).ToList();
        Assert.Equal(3, bases.Count);
        var kept = bases[0];

        // Keep the oldest, with annotations, through the command as an operator runs it.
        // The commands share the repository with PostgreSQL's group as serve does (ApiServer sets it), so that a restored
        // server's restore_command (running as postgres) reads what annotate writes.
        var cli = new Dictionary<string, string?>(settings) { ["PgVault:Engine:Enabled"] = "false", ["PgVault:GroupAccess"] = "true" };
        var (code, output) = await PgVaultProcess.RunAsync(
            ["annotate", "--backup-id", backupId, "--label", kept.Label, "--keep", "ticket=OPS-42", "purpose=year-end audit"], cli);
        Assert.True(code == 0, output);
        Assert.Contains($"base backup {kept.Label} of {backupId} in location 'local': kept, purpose=year-end audit, ticket=OPS-42", output,
            StringComparison.Ordinal);
        var (missing, missingOutput) = await PgVaultProcess.RunAsync(["annotate", "--backup-id", backupId, "--label", "20990101T000000000Z", "--keep"], cli);
        Assert.Equal(1, missing);
        Assert.Contains("has no complete base backup '20990101T000000000Z'", missingOutput, StringComparison.Ordinal);

        // Days pass: marker 3's commit is the window start, base backup 3 covers it; 1 and 2 are outside the window.
        var clock = new ManualClock(committed[4].AddDays(7));
        ExpiryRunner Runner() => new(options, new Dictionary<string, IObjectStore> { ["local"] = store }, server.Catalog, clock, NullLogger.Instance);
        var dry = await Runner().RunAsync(null, dryRun: true, engine, Ct);
        var printed = new StringWriter();
        await PgVault.Commands.ExpireCommand.PrintAsync(dry, printed);
        Assert.Contains($"would keep base backup {kept.Label} of {backupId} on request (pgvault annotate --keep) (purpose=year-end audit, ticket=OPS-42), " +
                        $"with its WAL {kept.Metadata!.StartLsn} to {kept.Metadata.EndLsn}", printed.ToString(), StringComparison.Ordinal);
        Assert.Contains($"would delete base backup {bases[1].Label} of {backupId}", printed.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain($"delete base backup {kept.Label}", printed.ToString(), StringComparison.Ordinal);

        var before = (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single();
        var report = await Runner().RunAsync(null, dryRun: false, engine, Ct);
        Assert.Equal([bases[1].Label], report.Plans.SelectMany(p => p.Plan.BaseBackups).Select(b => b.Label));

        var chain = (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single();
        Assert.Equal([kept.Label, bases[2].Label], chain.BaseBackups.Select(b => b.Label));
        Assert.True(chain.BaseBackups[0] is { Complete: true, Keep: true });
        var keptFrom = WalSegment.Number(Lsn.Parse(kept.Metadata.StartLsn));
        var keptTo = WalSegment.Number(Lsn.Parse(kept.Metadata.EndLsn));
        var cut = WalSegment.Number(Lsn.Parse(bases[2].Metadata!.StartLsn));
        for (var s = keptFrom; s <= keptTo; s++)
            Assert.Contains(s, chain.CompleteSegments()); // the kept base backup's own WAL, whole
        var between = before.CompleteSegments().Where(s => s > keptTo && s < cut).ToList();
        Assert.NotEmpty(between);
        Assert.All(between, s => Assert.DoesNotContain(s, chain.CompleteSegments())); // the WAL between went
        Assert.Equal(WalSegment.Start(cut), chain.WalStart);

        // The repository still verifies; the window starts at base backup 3, not at the kept one.
        var verify = await ChainVerifier.VerifyAsync(store, chain, null, Ct);
        Assert.True(verify.Ok, string.Join('\n', verify.Findings.Select(f => f.Message)));
        Assert.Equal(bases[2].Label, RestorePlanner.Plan(chain, new RestoreTarget.Time(committed[4]), DateTimeOffset.UtcNow).BaseBackup.Label);
        Assert.Throws<PgVault.Errors.PgVaultException>(() => RestorePlanner.Plan(chain, new RestoreTarget.Time(committed[1]), DateTimeOffset.UtcNow));
        var row = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
        Assert.Equal(bases[2].Metadata!.CompletedAt.UtcTicks / 10, row.EarliestRecoveryTargetTime!.Value.UtcTicks / 10);

        // info (text and JSON) and the API show it kept; no gap is reported for the WAL expiry deleted.
        var info = RepositoryInfo.Describe(chain, "local");
        Assert.True(info.BaseBackups[0].Keep);
        Assert.Equal("end", info.BaseBackups[0].Restorable); // its consistency point, and the WAL after it up to its segment's end
        Assert.Equal(WalSegment.Start(keptTo + 1).ToString(), info.BaseBackups[0].ReachesLsn);
        Assert.Equal("window", info.BaseBackups[1].Restorable);
        Assert.Equal(chain.DurableEnd.ToString(), info.BaseBackups[1].ReachesLsn);
        Assert.Equal("OPS-42", info.BaseBackups[0].Annotations["ticket"]);
        Assert.All(info.Wal, r => Assert.Empty(r.Missing));
        Assert.Equal("AVAILABLE", info.State);
        (code, output) = await PgVaultProcess.RunAsync(["info", "--backup-id", backupId], cli);
        Assert.True(code == 0, output);
        Assert.Contains($"base backup {kept.Label}: timeline 1, ", output, StringComparison.Ordinal);
        Assert.Contains("full, KEPT (purpose=year-end audit, ticket=OPS-42)", output, StringComparison.Ordinal);
        Assert.DoesNotContain("GAP", output, StringComparison.Ordinal);
        Assert.Contains($"restorable to its end only ({kept.Metadata.EndLsn} to {WalSegment.Start(keptTo + 1)}: restore --base-backup {kept.Label})", output,
            StringComparison.Ordinal);

        // The kept base backup restores for real to its consistency point (the WAL after it is gone): marker 0 only.
        using (var restored = new TempDirectory("keep-restored"))
        {
            (code, output) = await PgVaultProcess.RunAsync(
                ["restore", "--backup-id", backupId, "--to", restored.Path, "--base-backup", kept.Label, "--verify"], cli, TimeSpan.FromMinutes(5));
            Assert.True(code == 0, output);
            Assert.Contains($"restoring base backup {kept.Label} of {backupId}", output, StringComparison.Ordinal);
            Assert.Contains($"base backup {kept.Label} is kept without the WAL after it: it reaches LSN {kept.Metadata.EndLsn} (its consistency point)",
                output, StringComparison.Ordinal);
            Assert.Contains("recovery_target=immediate", output, StringComparison.Ordinal);
            Assert.Contains("pg_amcheck --all found no corruption", output, StringComparison.Ordinal);
            Assert.Equal([0], await MarkersAsync(pg, restored.Path));
        }

        // A point its WAL does not reach is refused before anything is written, naming what it reaches.
        using (var refused = new TempDirectory("keep-refused"))
        {
            (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", refused.Path, "--base-backup", kept.Label,
                "--target-time", committed[0].ToString("O", CultureInfo.InvariantCulture)], cli);
            Assert.Equal(1, code);
            Assert.Contains($"base backup {kept.Label} of backup {backupId} is kept without the WAL after it (expiry removed it)", output, StringComparison.Ordinal);
            (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", refused.Path, "--base-backup", kept.Label,
                "--target-lsn", bases[2].Metadata!.EndLsn], cli);
            Assert.Equal(1, code);
            Assert.Contains("is outside what it reaches", output, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(refused.Path));
        }
        using var http = server.Client(StreamingAndBaseBackupTests.Token);
        var listed = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/backups/{backupId}/basebackups/{kept.Label}", UriKind.Relative), Ct))!;
        Assert.True(listed["properties"]!["keep"]!.GetValue<bool>());
        Assert.Equal("OPS-42", listed["properties"]!["annotations"]!["ticket"]!.GetValue<string>());

        // A second run changes nothing; --no-keep releases it, and the next run deletes it and its WAL.
        Assert.Empty((await Runner().RunAsync(null, dryRun: false, engine, Ct)).Plans.SelectMany(p => p.Plan.BaseBackups));
        (code, output) = await PgVaultProcess.RunAsync(["annotate", "--backup-id", backupId, "--label", kept.Label, "--no-keep", "ticket="], cli);
        Assert.True(code == 0, output);
        Assert.Contains("not kept, purpose=year-end audit", output, StringComparison.Ordinal);
        var released = await Runner().RunAsync(null, dryRun: false, engine, Ct);
        Assert.Equal([kept.Label], released.Plans.SelectMany(p => p.Plan.BaseBackups).Select(b => b.Label));
        var last = (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single();
        Assert.Equal([bases[2].Label], last.BaseBackups.Select(b => b.Label));
        Assert.All(last.Wal, w => Assert.True(w.Segment >= cut, $"{w.Key} is older than the oldest kept base backup"));
        var finalVerify = await ChainVerifier.VerifyAsync(store, last, null, Ct);
        Assert.True(finalVerify.Ok, string.Join('\n', finalVerify.Findings.Select(f => f.Message)));
    }

    /// <summary>Starts PostgreSQL on a restored (and promoted) data directory and returns its marker rows, then stops it.</summary>
    private static async Task<List<int>> MarkersAsync(PostgresCluster tools, string dataDir)
    {
        var markers = new List<int>();
        await RestoreTests.WithServerAsync(tools, dataDir, async port =>
        {
            await using var conn = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false");
            await conn.OpenAsync(Ct);
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT n FROM marker ORDER BY n", conn);
            await using var reader = await cmd.ExecuteReaderAsync(Ct);
            while (await reader.ReadAsync(Ct))
                markers.Add(reader.GetInt32(0));
        });
        return markers;
    }
}
