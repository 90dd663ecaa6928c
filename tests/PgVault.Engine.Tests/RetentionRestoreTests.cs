using System.Globalization;
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
/// Retention against a real PostgreSQL and a running engine: four real base backups seconds apart, with marker rows
/// between them; expiry then runs with a clock set to "a marker's commit time + RetentionDays" (the only simulated
/// thing: the days that pass), coordinated with the running workers while WAL keeps streaming. After each expiry the
/// chain verifies (checksums, WAL continuity) and the window start plans to the right base backup; the final state is
/// restored for real with <c>pgvault restore --verify</c> to the window start. One expiry is killed midway (a store that
/// fails after the first delete) and re-run. <c>pgvault expire</c> runs as a process.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class RetentionRestoreTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<DateTimeOffset> InsertMarkerAsync(PostgresCluster pg, int n)
    {
        await pg.ExecuteAsync($"INSERT INTO marker VALUES ({n}, clock_timestamp())", ct: Ct);
        await pg.ExecuteAsync("SELECT pg_switch_wal()", ct: Ct); // WAL for expiry to delete
        return DateTimeOffset.Parse(await Pg.ScalarAsync<string>(pg,
                "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), pg_sleep(0.2)::text"),
            CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);
    }

    [Fact]
    public async Task Expiry_in_a_running_engine_keeps_the_window_restorable_and_the_final_state_restores_with_verify()
    {
        await using var pg = await PostgresCluster.StartAsync("retention", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY, at timestamptz NOT NULL)", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("retention-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:Engine:ExpirySchedule"] = ""; // the test runs expiry itself, with its clock
        var committed = new List<DateTimeOffset>();
        string backupId;
        await using (var server = await ApiServer.StartAsync("retention", settings, dataDirectory: data))
        {
            var engine = server.Services.GetRequiredService<BackupEngine>();
            var options = server.Services.GetRequiredService<PgVaultOptions>();
            var store = server.Services.GetRequiredService<LocationStores>().Get("local");
            var worker = engine.Find(clusterId)!;
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
                Bounded, "the first base backup");
            backupId = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
            for (var k = 1; k <= 4; k++)
            {
                committed.Add(await InsertMarkerAsync(pg, k));
                if (k == 4)
                    break;
                await worker.WaitForBaseBackupAsync();
                Assert.True(worker.TryStartBaseBackup("retention test", null, Ct));
                var expected = k + 1;
                await Wait.UntilAsync(async () => (await server.Catalog.ListBaseBackupsAsync(backupId, Ct)).Count(b => b.State == BaseBackupState.Complete) == expected,
                    Bounded, $"base backup {expected}");
            }

            var insert = await Pg.InsertLsnAsync(pg);
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= insert.Value, Bounded,
                $"the repository's WAL to reach {insert}");
            var bases = (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single().BaseBackups.Where(b => b.Complete).ToList();
            Assert.Equal(4, bases.Count);

            // Days pass (the clock says so): marker k's commit is the window start; base backup k covers it.
            for (var k = 1; k <= 3; k++)
            {
                var clock = new ManualClock(committed[k - 1].AddDays(7));
                var before = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
                if (k == 2)
                {
                    // Killed midway first: base backup 1's marker is gone, its parts are not; the chain still verifies.
                    var failing = new FailingObjectStore(store, 1);
                    await Assert.ThrowsAsync<IOException>(() => new ExpiryRunner(options, new Dictionary<string, IObjectStore> { ["local"] = failing },
                        server.Catalog, clock, NullLogger.Instance).RunAsync(null, dryRun: false, engine, Ct));
                    var half = (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single();
                    Assert.False(half.BaseBackups.Single(b => b.Label == bases[0].Label).Complete);
                    var halfVerify = await ChainVerifier.VerifyAsync(store, half, null, Ct);
                    Assert.True(halfVerify.Ok, string.Join('\n', halfVerify.Findings.Select(f => f.Message)));
                    Assert.False(worker.BaseBackupRunning); // the failed run released the cluster's base backup gate
                }

                var report = await new ExpiryRunner(options, new Dictionary<string, IObjectStore> { ["local"] = store }, server.Catalog, clock,
                    NullLogger.Instance).RunAsync(null, dryRun: false, engine, Ct);
                Assert.Equal(k == 1 ? 0 : 1, report.Plans.Sum(p => p.Plan.BaseBackups.Count));

                var chain = (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single();
                Assert.Equal(bases.Skip(k - 1).Select(b => b.Label), chain.BaseBackups.Select(b => b.Label));
                var cut = WalSegment.Number(Lsn.Parse(bases[k - 1].Metadata!.StartLsn));
                Assert.All(chain.Wal, w => Assert.True(w.Segment >= cut, $"{w.Key} is older than the oldest kept base backup"));
                var verify = await ChainVerifier.VerifyAsync(store, chain, null, Ct);
                Assert.True(verify.Ok, string.Join('\n', verify.Findings.Select(f => f.Message)));
                Assert.Equal(bases[k - 1].Label, RestorePlanner.Plan(chain, new RestoreTarget.Time(committed[k - 1]), DateTimeOffset.UtcNow).BaseBackup.Label);

                // The running engine refreshed its row: the window moved, the WAL start too, the size shrank.
                var row = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
                Assert.Equal(bases[k - 1].Metadata!.CompletedAt.UtcTicks / 10, row.EarliestRecoveryTargetTime!.Value.UtcTicks / 10); // µs in the catalog
                Assert.Equal(chain.WalStart.Value, row.StartLsn);
                if (k > 1)
                    Assert.True(row.SizeBytes < before.SizeBytes, $"size {row.SizeBytes} not below {before.SizeBytes}");
            }

            // Streaming went on throughout.
            committed.Add(await InsertMarkerAsync(pg, 5));
            var after = await Pg.InsertLsnAsync(pg);
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= after.Value, Bounded,
                $"the repository's WAL to reach {after} after expiry");
        }

        settings["PgVault:Engine:Enabled"] = "false";
        await ExpireCommandAsync(data.Path, clusterId, settings);

        // The final state restores for real to the window start: markers 1-3, not 4.
        using var target = new TempDirectory("retention-restored");
        var (code, output) = await PgVaultProcess.RunAsync(
            ["restore", "--backup-id", backupId, "--to", target.Path, "--target-time", committed[2].ToString("O", CultureInfo.InvariantCulture), "--verify"],
            settings, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, output);
        Assert.Contains("pg_amcheck --all found no corruption", output, StringComparison.Ordinal);
        Assert.Contains("marker", await CountMarkersAsync(pg, target.Path), StringComparison.Ordinal);

        // Before the window: refused.
        using var refused = new TempDirectory("retention-refused");
        var (bad, badOutput) = await PgVaultProcess.RunAsync(
            ["restore", "--backup-id", backupId, "--to", refused.Path, "--target-time", committed[1].ToString("O", CultureInfo.InvariantCulture)], settings);
        Assert.Equal(1, bad);
        Assert.Contains("before the recovery window", badOutput, StringComparison.Ordinal);
    }

    /// <summary>Starts PostgreSQL on the restored directory and answers "marker:&lt;n&gt;" with the highest marker, asserting it is 3.</summary>
    private static async Task<string> CountMarkersAsync(PostgresCluster tools, string dataDir)
    {
        var port = TestPorts.Next();
        using var socket = new TempDirectory("sock");
        if (TestEnvironment.IsRoot)
            await Engine.Postgres.LocalPostgres.RunAsync("chown", ["postgres:postgres", socket.Path], asPostgres: false, Ct);
        var (code, output) = await tools.RunPgRawAsync("pg_ctl",
            ["start", "-w", "-t", "300", "-D", dataDir, "-l", Path.Combine(socket.Path, "log"),
             "-o", $"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={socket.Path}"], Ct);
        Assert.True(code == 0, output);
        try
        {
            await using var conn = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false");
            await conn.OpenAsync(Ct);
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*)::int, max(n) FROM marker", conn);
            await using var reader = await cmd.ExecuteReaderAsync(Ct);
            Assert.True(await reader.ReadAsync(Ct));
            Assert.Equal(3, reader.GetInt32(0));
            Assert.Equal(3, reader.GetInt32(1));
            return $"marker:{reader.GetInt32(1)}";
        }
        finally
        {
            await tools.RunPgRawAsync("pg_ctl", ["stop", "-m", "fast", "-w", "-D", dataDir], CancellationToken.None);
        }
    }

    /// <summary>
    /// <c>pgvault expire</c> as a process. Nothing real is a day old here, so the test plants what is: a base backup
    /// that never completed, last written three days ago, and the remains of an interrupted whole expiry (a chain
    /// without chain.json) of another cluster.
    /// </summary>
    private static async Task ExpireCommandAsync(string dataDirectory, string clusterId, Dictionary<string, string?> settings)
    {
        var repository = Path.Combine(dataDirectory, "repository");
        var chainDir = Directory.GetDirectories(Path.Combine(repository, "clusters", clusterId, "chains")).Single();
        var failed = Path.Combine(chainDir, "base", "20260101T000000000Z");
        Directory.CreateDirectory(failed);
        var part = Path.Combine(failed, "data.00000.tar.zst");
        await File.WriteAllBytesAsync(part, new byte[4321], Ct);
        File.SetLastWriteTimeUtc(part, DateTime.UtcNow.AddDays(-3));
        var other = Guid.NewGuid().ToString();
        var orphan = Path.Combine(repository, "clusters", other, "chains", "orphan22", "wal", "00000001");
        Directory.CreateDirectory(orphan);
        var orphanWal = Path.Combine(orphan, "000000010000000000000003-" + new string('e', 64) + ".zst");
        await File.WriteAllBytesAsync(orphanWal, new byte[1234], Ct);

        var (code, output) = await PgVaultProcess.RunAsync(["expire", "--dry-run"], settings);
        Assert.True(code == 0, output);
        Assert.Contains("would delete base backup 20260101T000000000Z", output, StringComparison.Ordinal);
        Assert.Contains("(4321 bytes)", output, StringComparison.Ordinal);
        Assert.Contains($"would delete backup {other}/orphan22 whole", output, StringComparison.Ordinal);
        Assert.Contains("(1234 bytes)", output, StringComparison.Ordinal);
        Assert.Contains("expire (dry run): would delete 2 objects", output, StringComparison.Ordinal);
        Assert.True(File.Exists(part) && File.Exists(orphanWal), "the dry run deleted something");

        (code, output) = await PgVaultProcess.RunAsync(["expire", "--cluster", other], settings);
        Assert.True(code == 0, output);
        Assert.Contains("deleted 1 objects", output, StringComparison.Ordinal);
        Assert.False(File.Exists(orphanWal));
        Assert.True(File.Exists(part), "--cluster expired another cluster");

        (code, output) = await PgVaultProcess.RunAsync(["expire"], settings);
        Assert.True(code == 0, output);
        Assert.Contains("deleted 1 objects, 4.2 KiB (4321 bytes)", output, StringComparison.Ordinal);
        Assert.False(File.Exists(part));
        Assert.Contains("expire: 1 objects, 4321 bytes deleted", output, StringComparison.Ordinal); // the run's log line
    }
}
