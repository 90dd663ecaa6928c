using System.Globalization;
using PgVault.Catalog;
using PgVault.Engine.Repository;
using PgVault.Postgres;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>The golden restore tests: pgbench → dump A → backup → restore → dump B → A == B, amcheck; and a time target.</summary>
[Trait("Category", "Postgres")]
public sealed class RestoreTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static async Task<string> DumpAllAsync(PostgresCluster cluster, int port)
    {
        // The server-only builds of other majors have no pg_dumpall: PostgreSQL 15's dumps older servers too.
        var program = File.Exists(Path.Combine(cluster.BinDirectory, "pg_dumpall")) ? "pg_dumpall"
            : Path.Combine(PostgresCluster.FindBinDirectory() ?? "", "pg_dumpall");
        var (code, output) = await cluster.RunPgRawAsync(program,
            ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres"], Ct);
        Assert.True(code == 0, output);
        // pg_dumpall (15.14+) protects its output with a random \restrict key per run: not part of the data.
        return string.Join('\n', output.Split('\n').Where(l => !l.StartsWith("\\restrict ", StringComparison.Ordinal)
                                                              && !l.StartsWith("\\unrestrict ", StringComparison.Ordinal)));
    }

    /// <summary>Starts PostgreSQL on a restored directory (as the fixture's user), runs <paramref name="body"/>, stops it.</summary>
    internal static async Task WithServerAsync(PostgresCluster tools, string dataDir, Func<int, Task> body)
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
            await body(port);
        }
        finally
        {
            await tools.RunPgRawAsync("pg_ctl", ["stop", "-m", "fast", "-w", "-D", dataDir], CancellationToken.None);
        }
    }

    internal static async Task<(TempDirectory Data, Dictionary<string, string?> Settings, string BackupId)> BackupAsync(
        PostgresCluster pg, Func<Task> workload, long? partSizeBytes = null)
    {
        var clusterId = Guid.NewGuid().ToString();
        var data = new TempDirectory("restore-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        if (partSizeBytes is { } size)
        {
            // Parts are PgVault's cut of the tar: the server's compressed stream is stored as one.
            settings["PgVault:Engine:BaseBackupCompression"] = "Client";
            settings["PgVault:Engine:BaseBackupPartSizeBytes"] = size.ToString(CultureInfo.InvariantCulture);
        }
        string backupId;
        await using (var server = await ApiServer.StartAsync("restore", settings, dataDirectory: data))
        {
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
                Bounded, "the first base backup");
            await workload();
            var flush = await Pg.InsertLsnAsync(pg);
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= flush.Value, Bounded,
                $"the repository's WAL to reach {flush}");
            backupId = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
        }

        settings["PgVault:Engine:Enabled"] = "false";
        return (data, settings, backupId);
    }

    [Fact]
    public async Task Restoring_the_latest_point_gives_the_same_dump_and_passes_amcheck()
    {
        await using var pg = await PostgresCluster.StartAsync("golden", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "3", "-q");
        // Parts of 4 MiB: the restore reads a dozen parts, several at once, and must put them back in order.
        var (data, settings, backupId) = await BackupAsync(pg, () => Pg.PgbenchAsync(pg, "-c", "2", "-T", "6", "-n"), partSizeBytes: 4 << 20);
        using var _ = data;
        var dumpA = await DumpAllAsync(pg, pg.Port);

        using var target = new TempDirectory("restored");
        var (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", target.Path, "--verify"], settings,
            TimeSpan.FromMinutes(5));
        Assert.True(code == 0, output);
        Assert.Contains("pg_amcheck --all found no corruption", output, StringComparison.Ordinal);
        Assert.Matches("promoted at [0-9A-F]+/[0-9A-F]+ on timeline 2", output);

        string dumpB = "";
        await WithServerAsync(pg, target.Path, async port => dumpB = await DumpAllAsync(pg, port));
        Assert.Equal(dumpA, dumpB);

        // A non-empty directory is refused unless --force.
        var (again, againOutput) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", target.Path], settings);
        Assert.Equal(1, again);
        Assert.Contains("is not empty", againOutput, StringComparison.Ordinal);
    }

    /// <summary>Rows of <c>marker</c> in a restored directory (the server started on it, then stopped).</summary>
    internal static async Task<long> CountMarkersAsync(PostgresCluster tools, string dataDir)
    {
        long count = -1;
        await WithServerAsync(tools, dataDir, async port =>
        {
            await using var conn = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false");
            await conn.OpenAsync(Ct);
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*) FROM marker", conn);
            count = (long)(await cmd.ExecuteScalarAsync(Ct))!;
        });
        return count;
    }

    /// <summary>Restores <paramref name="backupId"/> with extra target arguments and <c>--verify</c>; returns the markers in the result.</summary>
    internal static async Task<long> RestoreAndCountAsync(PostgresCluster pg, Dictionary<string, string?> settings, string backupId, params string[] target)
    {
        using var dir = new TempDirectory("target-restored");
        var (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", dir.Path, .. target, "--verify"],
            settings, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"restore {string.Join(' ', target)} failed: {output}");
        Assert.Contains("pg_amcheck --all found no corruption", output, StringComparison.Ordinal);
        return await CountMarkersAsync(pg, dir.Path);
    }

    [Fact]
    public async Task Five_random_time_targets_during_load_restore_exactly_the_markers_committed_by_then_and_targets_outside_the_window_are_refused()
    {
        // Commit timestamps say exactly when PostgreSQL considers each marker committed (recovery_target_time compares
        // against the same commit record time).
        await using var pg = await PostgresCluster.StartAsync("pitr", "track_commit_timestamp = on", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "2", "-q");
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY)", ct: Ct);
        var (data, settings, backupId) = await BackupAsync(pg, async () =>
        {
            var load = Pg.PgbenchAsync(pg, "-c", "2", "-T", "4", "-n");
            for (var n = 1; !load.IsCompleted || n <= 20; n++)
                await pg.ExecuteAsync($"INSERT INTO marker SELECT {n} FROM pg_sleep(0.05)", ct: Ct);
            await load;
        });
        using var _ = data;

        var commits = new List<DateTimeOffset>();
        await using (var conn = await pg.OpenAsync(ct: Ct))
        {
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT pg_xact_commit_timestamp(xmin) FROM marker ORDER BY n", conn);
            await using var r = await cmd.ExecuteReaderAsync(Ct);
            while (await r.ReadAsync(Ct))
                commits.Add(new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(0), DateTimeKind.Utc)));
        }

        var random = new Random(Environment.TickCount);
        var span = commits[^1] - commits[0];
        for (var i = 0; i < 5; i++)
        {
            // A random moment between the first and the last marker, to the microsecond PostgreSQL keeps.
            var ticks = commits[0].UtcTicks + (long)(random.NextDouble() * span.Ticks);
            var target = new DateTimeOffset(ticks - (ticks % 10), TimeSpan.Zero);
            var expected = commits.Count(c => c <= target);
            var count = await RestoreAndCountAsync(pg, settings, backupId, "--target-time", target.ToString("O", CultureInfo.InvariantCulture));
            Assert.True(expected == count, $"target {target:O}: expected the {expected} markers committed by then, the restore holds {count}");
        }

        foreach (var outside in new[] { DateTimeOffset.UtcNow.AddYears(-1), DateTimeOffset.UtcNow.AddHours(1) })
        {
            using var refused = new TempDirectory("pitr-refused");
            var (bad, badOutput) = await PgVaultProcess.RunAsync(
                ["restore", "--backup-id", backupId, "--to", refused.Path, "--target-time", outside.ToString("O", CultureInfo.InvariantCulture)], settings);
            Assert.Equal(1, bad);
            Assert.Contains("the recovery window of backup", badOutput, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(refused.Path));
        }
    }

    [Fact]
    public async Task Targets_by_lsn_xid_name_and_immediate_stop_where_postgresql_defines_them()
    {
        await using var pg = await PostgresCluster.StartAsync("targets", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY)", ct: Ct);
        Lsn afterThree = default;
        long xidOfFive = 0;
        var (data, settings, backupId) = await BackupAsync(pg, async () =>
        {
            for (var n = 1; n <= 9; n++)
            {
                if (n == 5)
                    xidOfFive = await Pg.ScalarAsync<long>(pg, "WITH i AS (INSERT INTO marker VALUES (5) RETURNING n) SELECT txid_current() FROM i");
                else
                    await pg.ExecuteAsync($"INSERT INTO marker VALUES ({n})", ct: Ct);
                if (n == 3)
                    afterThree = await Pg.InsertLsnAsync(pg);
                if (n == 7)
                    await Pg.ScalarAsync<string>(pg, "SELECT pg_create_restore_point('pgvault-test-after-7')::text");
            }
        });
        using var _ = data;

        // The base backup recorded the next xid of its start checkpoint: the xid target can start from it.
        var store = new Engine.Storage.LocalObjectStore(Path.Combine(data.Path, "repository"));
        var (cluster, _) = Engine.Restore.WalFetcher.ParseBackupId(backupId);
        var chain = (await RepositoryScanner.ScanAsync(store, cluster, Ct)).Single(c => c.Metadata?.BackupId == backupId);
        var nextXid = chain.BaseBackups.Single(b => b.Complete).Metadata!.NextXid;
        Assert.NotNull(nextXid);
        Assert.InRange(nextXid.Value, 3UL, (ulong)xidOfFive);

        Assert.Equal(3, await RestoreAndCountAsync(pg, settings, backupId, "--target-lsn", afterThree.ToString()));
        Assert.Equal(5, await RestoreAndCountAsync(pg, settings, backupId, "--target-xid", xidOfFive.ToString(CultureInfo.InvariantCulture)));
        Assert.Equal(4, await RestoreAndCountAsync(pg, settings, backupId, "--target-xid", xidOfFive.ToString(CultureInfo.InvariantCulture), "--exclusive"));
        Assert.Equal(7, await RestoreAndCountAsync(pg, settings, backupId, "--target-name", "pgvault-test-after-7"));
        // Every marker was written after the base backup: its consistency point has none.
        Assert.Equal(0, await RestoreAndCountAsync(pg, settings, backupId, "--target", "immediate"));
    }

    [Fact]
    public async Task A_segment_missing_inside_the_window_fails_the_restore_loudly()
    {
        await using var pg = await PostgresCluster.StartAsync("missing-wal", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY)", ct: Ct);
        var (data, settings, backupId) = await BackupAsync(pg, async () =>
        {
            for (var n = 1; n <= 4; n++)
            {
                await pg.ExecuteAsync($"INSERT INTO marker VALUES ({n})", ct: Ct);
                await Pg.ScalarAsync<string>(pg, "SELECT pg_switch_wal()::text");
            }

            await pg.ExecuteAsync("INSERT INTO marker VALUES (5)", ct: Ct);
        });
        using var _ = data;

        // A full segment after the base backup's end and before the chain's last one.
        var store = new Engine.Storage.LocalObjectStore(Path.Combine(data.Path, "repository"));
        var (cluster, _) = Engine.Restore.WalFetcher.ParseBackupId(backupId);
        var chain = (await RepositoryScanner.ScanAsync(store, cluster, Ct)).Single(c => c.Metadata?.BackupId == backupId);
        var baseEnd = Lsn.Parse(chain.BaseBackups.Single(b => b.Complete).Metadata!.EndLsn);
        var full = chain.Wal.Where(w => !w.Partial).OrderBy(w => w.Segment).ToList();
        var victim = full.First(w => w.Segment > baseEnd.Value / WalSegment.DefaultSizeBytes && w.Segment < full[^1].Segment);

        // Fetching ahead: the segments after the base backup's land in a spool, checked, and are handed over from there.
        using (var spool = new TempDirectory("spool"))
        using (var fetched = new TempDirectory("fetched"))
        {
            var first = full.First(w => w.Segment >= baseEnd.Value / WalSegment.DefaultSizeBytes);
            var firstName = WalSegment.Name(first.Timeline, first.Segment);
            var ahead = await Engine.Restore.WalFetcher.PrefetchAsync(store, backupId, firstName, 2, spool.Path, Ct);
            Assert.Equal(2, ahead);
            var next = WalSegment.Name(first.Timeline, first.Segment + 1);
            var (code1, message1) = await Engine.Restore.WalFetcher.FetchAsync(store, backupId, next, Path.Combine(fetched.Path, "a"), Ct, spool.Path);
            Assert.Equal((0, $"{next}: restored (prefetched)"), (code1, message1));
            Assert.False(File.Exists(Path.Combine(spool.Path, next)));
            var (code2, _) = await Engine.Restore.WalFetcher.FetchAsync(store, backupId, next, Path.Combine(fetched.Path, "b"), Ct);
            Assert.Equal(0, code2);
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(fetched.Path, "b"), Ct), await File.ReadAllBytesAsync(Path.Combine(fetched.Path, "a"), Ct));
        }

        await store.DeleteAsync([victim.Key], Ct);

        using var target = new TempDirectory("missing-restored");
        var (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", target.Path, "--verify"], settings,
            TimeSpan.FromMinutes(5));
        Assert.True(code != 0, "the restore succeeded although a segment inside its window is missing: " + output);
        Assert.Contains("missing from backup", output, StringComparison.Ordinal);
        Assert.DoesNotContain("pg_amcheck --all found no corruption", output, StringComparison.Ordinal);
    }
}
