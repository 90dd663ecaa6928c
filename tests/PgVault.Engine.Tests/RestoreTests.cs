using System.Globalization;
using PgVault.Catalog;
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

    private static async Task<string> DumpAllAsync(PostgresCluster cluster, int port)
    {
        var (code, output) = await cluster.RunPgRawAsync("pg_dumpall",
            ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres"], Ct);
        Assert.True(code == 0, output);
        // pg_dumpall (15.14+) protects its output with a random \restrict key per run: not part of the data.
        return string.Join('\n', output.Split('\n').Where(l => !l.StartsWith("\\restrict ", StringComparison.Ordinal)
                                                              && !l.StartsWith("\\unrestrict ", StringComparison.Ordinal)));
    }

    /// <summary>Starts PostgreSQL on a restored directory (as the fixture's user), runs <paramref name="body"/>, stops it.</summary>
    private static async Task WithServerAsync(PostgresCluster tools, string dataDir, Func<int, Task> body)
    {
        var port = Engine.BaseBackup.LocalPostgres.FreePort();
        using var socket = new TempDirectory("sock");
        if (TestEnvironment.IsRoot)
            await Engine.BaseBackup.LocalPostgres.RunAsync("chown", ["postgres:postgres", socket.Path], asPostgres: false, Ct);
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

    private static async Task<(TempDirectory Data, Dictionary<string, string?> Settings, string BackupId)> BackupAsync(
        PostgresCluster pg, Func<Task> workload)
    {
        var clusterId = Guid.NewGuid().ToString();
        var data = new TempDirectory("restore-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
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
        var (data, settings, backupId) = await BackupAsync(pg, () => Pg.PgbenchAsync(pg, "-c", "2", "-T", "6", "-n"));
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

    [Fact]
    public async Task A_time_target_restores_exactly_the_markers_committed_by_then_and_targets_outside_the_window_are_refused()
    {
        await using var pg = await PostgresCluster.StartAsync("pitr", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY, at timestamptz NOT NULL)", ct: Ct);
        var committedAt = new List<DateTimeOffset>();
        var (data, settings, backupId) = await BackupAsync(pg, async () =>
        {
            for (var n = 1; n <= 10; n++)
            {
                await pg.ExecuteAsync($"INSERT INTO marker VALUES ({n}, clock_timestamp())", ct: Ct);
                // The server's clock right after the commit, and a gap before the next one.
                committedAt.Add(DateTimeOffset.Parse(await Pg.ScalarAsync<string>(pg, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), pg_sleep(0.15)::text"),
                    CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal));
            }
        });
        using var _ = data;

        var targetTime = committedAt[4]; // after marker 5 committed, before marker 6
        using var target = new TempDirectory("pitr-restored");
        var (code, output) = await PgVaultProcess.RunAsync(
            ["restore", "--backup-id", backupId, "--to", target.Path, "--target-time", targetTime.ToString("O", CultureInfo.InvariantCulture), "--verify"],
            settings, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, output);
        long count = 0;
        await WithServerAsync(pg, target.Path, async port =>
        {
            await using var conn = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false");
            await conn.OpenAsync(Ct);
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*) FROM marker", conn);
            count = (long)(await cmd.ExecuteScalarAsync(Ct))!;
        });
        Assert.Equal(5, count);

        foreach (var outside in new[] { DateTimeOffset.UtcNow.AddYears(-1), DateTimeOffset.UtcNow.AddHours(1) })
        {
            using var refused = new TempDirectory("pitr-refused");
            var (bad, badOutput) = await PgVaultProcess.RunAsync(
                ["restore", "--backup-id", backupId, "--to", refused.Path, "--target-time", outside.ToString("O", CultureInfo.InvariantCulture)], settings);
            Assert.Equal(1, bad);
            Assert.Contains("the recovery window of backup", badOutput, StringComparison.Ordinal);
        }
    }
}
