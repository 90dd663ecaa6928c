using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Engine.Postgres;
using PgVault.Errors;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The version matrix: the core scenario against a real server of each supported major other than 15 (which the whole
/// suite runs on): the first base backup and WAL streaming under pgbench load, the API listing the backup with its
/// <c>version</c>, <c>restore --verify</c> to the latest point (the restored major's own server, amcheck) with every
/// table equal to the source's, and to a time target between marker rows; and an in-place restore through the API. The servers are the npm builds
/// <c>tests/tools/install-postgres.sh</c> installs (server programs only): pgbench runs from PostgreSQL 15's client
/// programs, and data is compared by per-table checksums in SQL, since PostgreSQL 15's <c>pg_dumpall</c> refuses newer
/// servers (14 is compared with <c>pg_dumpall</c> as well). One class per major; the classes run in parallel with each
/// other and the rest of the suite (each server on a port no other test in the process ever gets: <see cref="TestPorts"/>).
/// </summary>
public abstract class MajorMatrixScenario
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);
    private static readonly string[] Tables = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "marker"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>What --verify checks with: the server-only builds have no pg_amcheck, so amcheck's functions in SQL.</summary>
    private const string Checker = "amcheck (bt_index_check, verify_heapam)";

    /// <summary>The major this class runs the scenario against.</summary>
    protected abstract int Major { get; }

    [Fact]
    public async Task Streaming_base_backup_and_restores_to_latest_and_to_a_time_work_on_this_major()
    {
        var clock = Stopwatch.StartNew();
        await using var pg = await PostgresCluster.StartAsync($"matrix{Major}", "track_commit_timestamp = on", Ct, Major);
        Assert.Equal(Major, await ServerMajorAsync(pg));
        await PgbenchAsync(pg, "-i", "-s", "2", "-q");
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY)", ct: Ct);

        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("matrix-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings[$"PgVault:Engine:PostgresBinDirectories:{Major}"] = pg.BinDirectory;
        string backupId;
        await using (var server = await ApiServer.StartAsync($"matrix{Major}", settings, dataDirectory: data))
        {
            // The first base backup while pgbench loads the cluster and WAL streams; then marker rows (inside the
            // recovery window, which begins where the base backup ends) while the load goes on.
            var load = PgbenchAsync(pg, "-c", "2", "-T", "8", "-n");
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
                Bounded, $"the first base backup of PostgreSQL {Major}");
            for (var n = 1; !load.IsCompleted || n <= 20; n++)
                await pg.ExecuteAsync($"INSERT INTO marker SELECT {n} FROM pg_sleep(0.05)", ct: Ct);
            await load;
            var end = await Pg.InsertLsnAsync(pg);
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= end.Value, Bounded,
                $"the repository's WAL to reach {end}");

            using var http = server.Client(StreamingAndBaseBackupTests.Token);
            var list = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/{clusterId}/backups", UriKind.Relative), Ct))!;
            var backup = Assert.Single(list["items"]!.AsArray())!;
            backupId = backup["id"]!.GetValue<string>();
            Assert.Matches($"^{clusterId}-[a-z0-9]{{8}}-{Major}$", backupId);
            Assert.Equal(Major.ToString(CultureInfo.InvariantCulture), backup["properties"]!["version"]!.GetValue<string>());
            Assert.Equal("AVAILABLE", backup["metadata"]!["state"]!.GetValue<string>());
        }

        settings["PgVault:Engine:Enabled"] = "false";
        var source = await ChecksumsAsync(pg, pg.Port);
        var dumpA = Major < 15 ? await RestoreTests.DumpAllAsync(pg, pg.Port) : null;
        var backedUp = clock.Elapsed;

        // Latest: every table as on the source, amcheck clean, on the restored major's own server.
        using (var latest = new TempDirectory("matrix-latest"))
        {
            var (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", latest.Path, "--verify"], settings,
                TimeSpan.FromMinutes(5));
            Assert.True(code == 0, output);
            Assert.Contains(Checker + " found no corruption", output, StringComparison.Ordinal);
            await RestoreTests.WithServerAsync(pg, latest.Path, async port =>
            {
                Assert.Equal(source, await ChecksumsAsync(pg, port));
                if (dumpA is not null)
                    Assert.Equal(dumpA, await RestoreTests.DumpAllAsync(pg, port));
            });
        }

        // A time target between two markers: exactly the markers committed by then.
        var commits = new List<DateTimeOffset>();
        await using (var conn = await pg.OpenAsync(ct: Ct))
        {
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT pg_xact_commit_timestamp(xmin) FROM marker ORDER BY n", conn);
            await using var r = await cmd.ExecuteReaderAsync(Ct);
            while (await r.ReadAsync(Ct))
                commits.Add(new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(0), DateTimeKind.Utc)));
        }

        var middle = commits.Count / 2;
        var target = commits[middle - 1] + (commits[middle] - commits[middle - 1]) / 2;
        target = new DateTimeOffset(target.UtcTicks - (target.UtcTicks % 10), TimeSpan.Zero);
        var expected = commits.Count(c => c <= target);
        long count;
        using (var timed = new TempDirectory("matrix-time"))
        {
            var (code, output) = await PgVaultProcess.RunAsync(
                ["restore", "--backup-id", backupId, "--to", timed.Path, "--target-time", target.ToString("O", CultureInfo.InvariantCulture), "--verify"],
                settings, TimeSpan.FromMinutes(5));
            Assert.True(code == 0, output);
            Assert.Contains(Checker + " found no corruption", output, StringComparison.Ordinal);
            count = await RestoreTests.CountMarkersAsync(pg, timed.Path);
        }

        Assert.True(expected == count, $"target {target:O}: expected the {expected} markers committed by then, the restore holds {count}");
        TestContext.Current.SendDiagnosticMessage(
            $"PostgreSQL {Major}: backed up in {backedUp.TotalSeconds:0.0} s, whole scenario {clock.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>
    /// A full base backup, writes (pgbench, a TRUNCATE, a VACUUM that cuts a table's tail, a new table), an incremental
    /// one, and its restore (full + incr composed, every block checked against its block map) with amcheck clean and
    /// every table equal to the source's. Lean: scale 1, the CLI alone (no serve): about a minute on a loaded 2-core machine.
    /// </summary>
    [Fact]
    public async Task An_incremental_base_backup_restores_every_table_equal_on_this_major()
    {
        await using var pg = await PostgresCluster.StartAsync($"matrix{Major}incr", "", Ct, Major);
        await PgbenchAsync(pg, "-i", "-s", "1", "-q");
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY); INSERT INTO marker SELECT generate_series(1, 5000)", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("matrix-incr-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings[$"PgVault:Engine:PostgresBinDirectories:{Major}"] = pg.BinDirectory;
        // The restored server's restore_command (pgvault wal-fetch) runs as the postgres OS user: share the repository.
        settings["PgVault:GroupAccess"] = "true";
        if (TestEnvironment.IsRoot)
            await PgVault.Hosting.StateDirectory.ShareWithGroupAsync(data.Path, "postgres", Ct);
        var (fullCode, fullOutput) = await PgVaultProcess.RunAsync(["backup", "--cluster", clusterId, "--type", "full"], settings, Bounded);
        Assert.True(fullCode == 0, fullOutput);

        await PgbenchAsync(pg, "-c", "2", "-t", "150", "-n");
        await pg.ExecuteAsync("TRUNCATE pgbench_history; DELETE FROM marker WHERE n > 2500", ct: Ct);
        await pg.ExecuteAsync("VACUUM marker", ct: Ct); // cuts the table's empty tail
        await pg.ExecuteAsync("CREATE TABLE added AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 3000) g", ct: Ct);
        var (incrCode, incrOutput) = await PgVaultProcess.RunAsync(["backup", "--cluster", clusterId, "--type", "incr"], settings, Bounded);
        Assert.True(incrCode == 0, incrOutput);
        var source = await ChecksumsAsync(pg, pg.Port) + "\n" + await Pg.ScalarAsync<string>(pg, AddedSums);

        var chain = Assert.Single(await PgVault.Engine.Repository.ChainRepository.ScanAsync(
            new PgVault.Engine.Storage.LocalObjectStore(Path.Combine(data.Path, "repository")), clusterId, Ct));
        Assert.Equal(PgVault.Engine.Repository.BaseBackupType.Incr,
            chain.BaseBackups.Where(b => b.Complete).OrderBy(b => b.Metadata!.StartedAt).Last().Metadata!.Type);
        using var target = new TempDirectory("matrix-incr-restored");
        var (code, output) = await PgVaultProcess.RunAsync(
            ["restore", "--backup-id", chain.Metadata!.BackupId, "--to", target.Path, "--target", "immediate", "--verify"], settings, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, output);
        Assert.Contains(" is incr: applied over ", output, StringComparison.Ordinal);
        Assert.Contains(Checker + " found no corruption", output, StringComparison.Ordinal);
        await RestoreTests.WithServerAsync(pg, target.Path, async port =>
        {
            await using var conn = new Npgsql.NpgsqlConnection(
                new Npgsql.NpgsqlConnectionStringBuilder(pg.ConnectionString()) { Port = port, Pooling = false }.ToString());
            await conn.OpenAsync(Ct);
            await using var cmd = new Npgsql.NpgsqlCommand(AddedSums, conn);
            Assert.Equal(source, await ChecksumsAsync(pg, port) + "\n" + (string)(await cmd.ExecuteScalarAsync(Ct))!);
        });
    }

    private const string AddedSums = "SELECT count(*) || ':' || md5(string_agg(md5(t::text), '' ORDER BY id)) FROM added t";

    [Fact]
    public async Task In_place_restore_to_a_marker_brings_the_cluster_back_and_streaming_goes_on_on_the_new_timeline()
    {
        var clock = Stopwatch.StartNew();
        await using var pg = await PostgresCluster.StartAsync($"inplace{Major}", "track_commit_timestamp = on", Ct, Major);
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY)", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("matrix-inplace-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:Clusters:0:DataDirectory"] = pg.DataDirectory;
        settings[$"PgVault:Engine:PostgresBinDirectories:{Major}"] = pg.BinDirectory;
        await using var server = await ApiServer.StartAsync($"inplace{Major}", settings, dataDirectory: data);
        using var http = server.Client(StreamingAndBaseBackupTests.Token);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available, Bounded,
            $"the first base backup of PostgreSQL {Major}");
        for (var n = 1; n <= 10; n++)
            await pg.ExecuteAsync($"INSERT INTO marker SELECT {n} FROM pg_sleep(0.05)", ct: Ct);
        await WaitDurableAsync(server, pg, clusterId);
        var commits = new List<DateTimeOffset>();
        await using (var conn = await pg.OpenAsync(ct: Ct))
        {
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT pg_xact_commit_timestamp(xmin) FROM marker ORDER BY n", conn);
            await using var r = await cmd.ExecuteReaderAsync(Ct);
            while (await r.ReadAsync(Ct))
                commits.Add(new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(0), DateTimeKind.Utc)));
        }

        var first = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
        var target = (commits[4] + ((commits[5] - commits[4]) / 2)).UtcDateTime
            .ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture); // after marker 5, before marker 6
        var backedUp = clock.Elapsed;

        using (var response = await http.PostAsync(new Uri($"/clusters/{clusterId}/restore", UriKind.Relative),
                   new StringContent($$"""{"backupId":"{{first.Id}}","recoveryTargetTime":"{{target}}"}""", System.Text.Encoding.UTF8, "application/json"), Ct))
            Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        await Wait.UntilAsync(() => Task.FromResult(server.Logs.Lines.Any(l => l.Contains($"cluster {clusterId}: restored in place", StringComparison.Ordinal)
                                                                                || l.Contains($"cluster {clusterId}: in-place restore", StringComparison.Ordinal)
                                                                                && l.Contains("failed", StringComparison.Ordinal))),
            TimeSpan.FromMinutes(4), $"the in-place restore of PostgreSQL {Major} to end");
        Assert.True(server.Logs.Lines.Any(l => l.Contains($"cluster {clusterId}: restored in place", StringComparison.Ordinal)),
            "the in-place restore failed: " + EngineLog(server, clusterId));
        var restored = clock.Elapsed;
        await using (var conn = new Npgsql.NpgsqlConnection(pg.ConnectionString()))
            Npgsql.NpgsqlConnection.ClearPool(conn); // the cluster was restarted: its pooled connections are gone
        Assert.Equal(5L, await Pg.ScalarAsync<long>(pg, "SELECT count(*) FROM marker"));

        // The promoted cluster is on timeline 2, which left the first backup before its end: a new backup, streamed on.
        try
        {
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct)) is { } active
                                              && active.Id != first.Id && active.State == BackupState.Available, Bounded,
                $"a new backup of PostgreSQL {Major} with its base backup after the restore");
            await pg.ExecuteAsync("INSERT INTO marker VALUES (101)", ct: Ct);
            await WaitDurableAsync(server, pg, clusterId);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Assert.Fail(ex.Message + "; engine log:\n" + EngineLog(server, clusterId));
        }

        var second = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
        Assert.Equal(2, second.Timeline);
        Assert.Equal(Major.ToString(CultureInfo.InvariantCulture), second.Version);
        Assert.DoesNotContain(server.Logs.Lines, l => l.Contains("has already been removed", StringComparison.Ordinal));
        TestContext.Current.SendDiagnosticMessage(
            $"PostgreSQL {Major}: in-place scenario backed up in {backedUp.TotalSeconds:0.0} s, restored by {restored.TotalSeconds:0.0} s, " +
            $"whole {clock.Elapsed.TotalSeconds:0.0} s");
    }

    private static async Task WaitDurableAsync(ApiServer server, PostgresCluster pg, string clusterId)
    {
        var lsn = await Pg.InsertLsnAsync(pg);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.EndLsn >= lsn.Value, Bounded,
            $"the repository's WAL to reach {lsn}");
    }

    private static string EngineLog(ApiServer server, string clusterId) =>
        string.Join("\n", server.Logs.Lines.Where(l => l.Contains(clusterId, StringComparison.Ordinal)
                                                        && !l.Contains("RequestLogging", StringComparison.Ordinal)).TakeLast(30));

    /// <summary>PostgreSQL 15's pgbench (the npm builds have no client programs), against this cluster.</summary>
    private static Task PgbenchAsync(PostgresCluster pg, params string[] args)
    {
        var client = PostgresCluster.FindBinDirectory(PostgresCluster.DefaultMajor);
        TestEnvironment.RequireOrSkip(client is not null, "PostgreSQL 15's client programs (pgbench) not found");
        return RunAsync(pg, Path.Combine(client!, "pgbench"),
            ["-h", "127.0.0.1", "-p", pg.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", .. args, "postgres"]);
    }

    private static async Task RunAsync(PostgresCluster pg, string program, string[] args)
    {
        var (code, output) = await pg.RunPgRawAsync(program, args, Ct);
        Assert.True(code == 0, $"{Path.GetFileName(program)} failed: {output}");
    }

    private static async Task<int> ServerMajorAsync(PostgresCluster pg) =>
        int.Parse(await Pg.ScalarAsync<string>(pg, "SELECT current_setting('server_version_num')"), CultureInfo.InvariantCulture) / 10000;

    /// <summary>An md5 of every row of each table (rows in text form, sorted), on the server at <paramref name="port"/>.</summary>
    internal static async Task<string> ChecksumsAsync(PostgresCluster pg, int port)
    {
        await using var conn = new Npgsql.NpgsqlConnection(
            new Npgsql.NpgsqlConnectionStringBuilder(pg.ConnectionString()) { Port = port, Pooling = false }.ToString());
        await conn.OpenAsync(Ct);
        var lines = new List<string>();
        foreach (var table in Tables)
        {
            await using var cmd = new Npgsql.NpgsqlCommand(
                $"SELECT count(*)::text || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} t", conn);
            lines.Add($"{table}: {(string)(await cmd.ExecuteScalarAsync(Ct))!}");
        }

        return string.Join('\n', lines);
    }
}

[Trait("Category", "Postgres")]
[Trait("Category", "MajorMatrix")]
public sealed class MajorMatrix14Tests : MajorMatrixScenario
{
    protected override int Major => 14;
}

[Trait("Category", "Postgres")]
[Trait("Category", "MajorMatrix")]
public sealed class MajorMatrix16Tests : MajorMatrixScenario
{
    protected override int Major => 16;
}

[Trait("Category", "Postgres")]
[Trait("Category", "MajorMatrix")]
public sealed class MajorMatrix17Tests : MajorMatrixScenario
{
    protected override int Major => 17;
}

[Trait("Category", "Postgres")]
[Trait("Category", "MajorMatrix")]
public sealed class MajorMatrix18Tests : MajorMatrixScenario
{
    protected override int Major => 18;
}

/// <summary>The majors PgVault accepts, and the refusal of the others.</summary>
public sealed class PostgresMajorTests
{
    [Theory]
    [InlineData(14)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(18)]
    public void Supported_majors_are_found(int major) => Assert.Equal(major, PostgresMajor.Require(major, "cluster 'x'").Number);

    [Theory]
    [InlineData(13, "upgrade the cluster")]
    [InlineData(12, "upgrade the cluster")]
    [InlineData(19, "use a PgVault release that supports PostgreSQL 19")]
    public void Other_majors_are_refused_naming_the_major_and_the_supported_ones(int major, string hint)
    {
        var ex = Assert.Throws<PgVaultException>(() => PostgresMajor.Require(major, "cluster 'x'"));
        Assert.Equal(ErrorCode.PostgresMajorUnsupported, ex.Code);
        Assert.Equal($"cluster 'x' runs PostgreSQL {major}, which PgVault does not support (supported: 14, 15, 16, 17 and 18)", ex.Message);
        Assert.Contains(hint, ex.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_14_lacks_the_option_list_syntax_server_compression_and_READ_REPLICATION_SLOT()
    {
        Assert.Equal([14], PostgresMajor.Supported.Where(m => !m.OptionListBaseBackup).Select(m => m.Number));
        Assert.Equal([14], PostgresMajor.Supported.Where(m => !m.ServerCompression).Select(m => m.Number));
        Assert.Equal([14], PostgresMajor.Supported.Where(m => !m.ReadReplicationSlot).Select(m => m.Number));
        Assert.Equal("BASE_BACKUP LABEL 'a''b' FAST MANIFEST 'yes' MANIFEST_CHECKSUMS 'SHA256'",
            BaseBackupProtocol.Command(PostgresMajor.V14, "a'b", null, Configuration.ManifestChecksum.SHA256));
        Assert.StartsWith("BASE_BACKUP (LABEL 'a', CHECKPOINT 'fast'",
            BaseBackupProtocol.Command(PostgresMajor.V16, "a", null, Configuration.ManifestChecksum.SHA256), StringComparison.Ordinal);
    }
}

/// <summary>
/// A real PostgreSQL 13 server (the npm build <c>tests/tools/install-postgres.sh</c> installs): refused at start-up and
/// in <c>/readyz</c>, naming the major and the supported ones, and nothing is written to the repository for it.
/// </summary>
[Trait("Category", "Postgres")]
[Trait("Category", "MajorMatrix")]
public sealed class UnsupportedMajorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_PostgreSQL_13_cluster_is_refused_at_start_up_and_in_readyz_and_nothing_is_written_for_it()
    {
        await using var pg = await PostgresCluster.StartAsync("major13", ct: Ct, major: 13);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("major13-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        await using var server = await ApiServer.StartAsync("major13", settings, dataDirectory: data);
        var refusal = $"cluster '{clusterId}' runs PostgreSQL 13, which PgVault does not support (supported: 14, 15, 16, 17 and 18)";
        await Wait.UntilAsync(() => Task.FromResult(server.Logs.Lines.Any(l => l.Contains(refusal, StringComparison.Ordinal)
                                                                             && l.Contains("PGV-3005", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(60), "the start-up refusal of PostgreSQL 13 in the log");

        using var http = server.Client(StreamingAndBaseBackupTests.Token); // the checks are shown to a token granted every cluster
        JsonNode? ready = null;
        await Wait.UntilAsync(async () =>
        {
            using var response = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct);
            ready = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct));
            return response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable;
        }, TimeSpan.FromSeconds(30), "/readyz to answer 503");
        var check = ready!["checks"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "cluster:" + clusterId)!;
        Assert.Equal("failed", check["status"]!.GetValue<string>());
        Assert.Equal(refusal, check["reason"]!.GetValue<string>());

        Assert.Null(await server.Catalog.GetActiveBackupAsync(clusterId, Ct));
        var repository = Path.Combine(data.Path, "repository");
        Assert.False(Directory.Exists(Path.Combine(repository, "clusters", clusterId)),
            "the repository holds objects of the refused cluster: " +
            string.Join(", ", Directory.Exists(repository) ? Directory.GetFileSystemEntries(repository, "*", SearchOption.AllDirectories) : []));
        Assert.Equal(0L, await Pg.ScalarAsync<long>(pg, "SELECT count(*) FROM pg_replication_slots"));
    }
}

/// <summary>
/// <c>Engine:BaseBackupMethod = PgBasebackup</c> on other majors, with the one pg_basebackup this machine has (PostgreSQL
/// 15's; the npm builds have none): it backs up an older server (14), and a newer one (18) is refused before it runs,
/// naming both majors.
/// </summary>
[Trait("Category", "Postgres")]
[Trait("Category", "MajorMatrix")]
public sealed class PgBasebackupMajorTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(PostgresCluster Pg, TempDirectory Data, ApiServer Server, string ClusterId)> StartAsync(int major)
    {
        var pg = await PostgresCluster.StartAsync($"pgbb{major}", ct: Ct, major: major);
        var clusterId = Guid.NewGuid().ToString();
        var data = new TempDirectory($"pgbb{major}-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:Engine:BaseBackupMethod"] = "PgBasebackup";
        settings[$"PgVault:Engine:PostgresBinDirectories:{major}"] = pg.BinDirectory;
        return (pg, data, await ApiServer.StartAsync($"pgbb{major}", settings, dataDirectory: data), clusterId);
    }

    [Fact]
    public async Task PostgreSQL_15s_pg_basebackup_backs_up_a_PostgreSQL_14_cluster()
    {
        TestEnvironment.RequireOrSkip(File.Exists("/usr/lib/postgresql/15/bin/pg_basebackup"), "PostgreSQL 15's pg_basebackup not found");
        var (pg, data, server, clusterId) = await StartAsync(14);
        await using (pg)
        using (data)
        await using (server)
        {
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available, Bounded,
                "the first base backup of PostgreSQL 14 by pg_basebackup 15");
            var backup = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
            Assert.Equal("14", backup.Version);
            Assert.Contains(await server.Catalog.ListBaseBackupsAsync(backup.Id, Ct), b => b.State == BaseBackupState.Complete);
        }
    }

    [Fact]
    public async Task PostgreSQL_15s_pg_basebackup_is_refused_for_a_PostgreSQL_18_cluster_naming_both_majors()
    {
        TestEnvironment.RequireOrSkip(File.Exists("/usr/lib/postgresql/15/bin/pg_basebackup"), "PostgreSQL 15's pg_basebackup not found");
        var (pg, data, server, clusterId) = await StartAsync(18);
        await using (pg)
        using (data)
        await using (server)
        {
            BaseBackupRecord? failed = null;
            await Wait.UntilAsync(async () =>
                (await server.Catalog.GetActiveBackupAsync(clusterId, Ct)) is { } backup
                && (failed = (await server.Catalog.ListBaseBackupsAsync(backup.Id, Ct)).FirstOrDefault(b => b.State == BaseBackupState.Failed)) is not null,
                Bounded, "the first base backup of PostgreSQL 18 by pg_basebackup 15 to fail");
            Assert.Contains($"pg_basebackup of PostgreSQL 15 (/usr/lib/postgresql/15/bin/pg_basebackup) cannot back up cluster '{clusterId}', " +
                            "which runs PostgreSQL 18", failed!.Error, StringComparison.Ordinal);
        }
    }
}
