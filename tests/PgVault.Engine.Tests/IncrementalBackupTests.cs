using System.Globalization;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// Incremental base backups against a real PostgreSQL: full → writes → incr → writes → incr → diff, each restored to
/// its consistency point and compared with the source at that moment (pg_dumpall, per-table checksums), checked by
/// pg_verifybackup and pg_amcheck; the writes cover what a block-level incremental must get right (TRUNCATE, a VACUUM
/// that truncates a tail, DROP TABLE/DATABASE, CREATE DATABASE with both strategies, a table rewritten to a new
/// relfilenode (VACUUM FULL, CLUSTER), which is what SET TABLESPACE does to the files of the default tablespaces).
/// </summary>
[Trait("Category", "Postgres")]
public sealed class IncrementalBackupTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromMinutes(5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Full_incr_incr_diff_each_restore_to_the_source_state_and_pass_pg_verifybackup_and_amcheck()
    {
        await using var pg = await PostgresCluster.StartAsync("incr", "", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "2", "-q");
        await pg.ExecuteAsync("""
            CREATE TABLE t_trunc AS SELECT g AS id, repeat('t', 200) AS pad FROM generate_series(1, 20000) g;
            CREATE TABLE t_vac (id int, pad text) WITH (autovacuum_enabled = off);
            INSERT INTO t_vac SELECT g, repeat('v', 200) FROM generate_series(1, 40000) g;
            CREATE TABLE t_drop AS SELECT g AS id FROM generate_series(1, 10000) g;
            CREATE TABLE t_move (id int PRIMARY KEY, h text);
            INSERT INTO t_move SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
            CREATE UNLOGGED TABLE t_unlogged (id int PRIMARY KEY); -- empty: unlogged data is never in a base backup, its init fork is
            """, ct: Ct);
        await pg.ExecuteAsync("CREATE DATABASE dropme", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLE d AS SELECT g AS id FROM generate_series(1, 5000) g", "dropme", Ct);

        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("incr-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        // The restored server's restore_command (pgvault wal-fetch) runs as the postgres OS user: share the repository.
        settings["PgVault:GroupAccess"] = "true";
        if (TestEnvironment.IsRoot)
            await PgVault.Hosting.StateDirectory.ShareWithGroupAsync(data.Path, "postgres", Ct);
        // Opened after the first backup: PgVault creates the repository directory, shared with the group.
        var repository = new Lazy<LocalObjectStore>(() => new LocalObjectStore(Path.Combine(data.Path, "repository")));

        var full = await BackupAndCheckAsync(pg, settings, repository, clusterId, "full");
        Assert.Equal(BaseBackupType.Full, full.Type);
        Assert.NotNull(full.BlockMap);
        Assert.Equal(RepositoryFormat.FullBaseBackupVersion, full.FormatVersion);

        // Writes 1: updates spread over pgbench_accounts, TRUNCATE, a VACUUM that truncates the tail, drops, both CREATE
        // DATABASE strategies, a table rewritten to a new relfilenode.
        await Pg.PgbenchAsync(pg, "-n", "-t", "300", "-c", "2");
        await pg.ExecuteAsync("""
            TRUNCATE t_trunc;
            INSERT INTO t_trunc VALUES (1, 'after truncate');
            DELETE FROM t_vac WHERE id > 5000;
            """, ct: Ct);
        await pg.ExecuteAsync("VACUUM t_vac", ct: Ct);
        foreach (var sql in new[]
                 {
                     "DROP TABLE t_drop", "DROP DATABASE dropme WITH (FORCE)", "CREATE DATABASE db_wal_log STRATEGY WAL_LOG",
                     "CREATE DATABASE db_file_copy STRATEGY FILE_COPY",
                     // A new relfilenode, as SET TABLESPACE gives one (only the default tablespaces are backed up).
                     "VACUUM FULL t_move",
                 })
        {
            await pg.ExecuteAsync(sql, ct: Ct);
        }

        await pg.ExecuteAsync("CREATE TABLE w AS SELECT g AS id FROM generate_series(1, 3000) g", "db_wal_log", Ct);
        await pg.ExecuteAsync("CREATE TABLE f AS SELECT g AS id FROM generate_series(1, 3000) g", "db_file_copy", Ct);
        var incr1 = await BackupAndCheckAsync(pg, settings, repository, clusterId, "incr");
        Assert.Equal(BaseBackupType.Incr, incr1.Type);
        Assert.Equal(new[] { full.Label }, incr1.References);
        Assert.Equal(RepositoryFormat.IncrementalBaseBackupVersion, incr1.FormatVersion);

        // Writes 2: a few rows in one contiguous range, growth, the moved table back.
        await pg.ExecuteAsync("""
            UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN 1000 AND 1500;
            INSERT INTO t_vac SELECT g, 'grown' FROM generate_series(1, 30000) g;
            CLUSTER t_move USING t_move_pkey;
            """, ct: Ct);
        await pg.ExecuteAsync("INSERT INTO w SELECT g FROM generate_series(1, 100) g", "db_wal_log", Ct);
        var incr2 = await BackupAndCheckAsync(pg, settings, repository, clusterId, "incr");
        Assert.Equal(BaseBackupType.Incr, incr2.Type);
        Assert.Equal(new[] { full.Label, incr1.Label }, incr2.References);

        // Writes 3, then a diff: against the full, whatever came between.
        await pg.ExecuteAsync("UPDATE pgbench_branches SET bbalance = bbalance + 7; DROP TABLE t_trunc;", ct: Ct);
        var diff = await BackupAndCheckAsync(pg, settings, repository, clusterId, "diff");
        Assert.Equal(BaseBackupType.Diff, diff.Type);
        Assert.Equal(new[] { full.Label }, diff.References);

        // Each incremental stores less than the full one (its own bytes only); the first holds two new databases whole
        // (their files are new), the second a few rows and one rewritten table.
        var fullStored = full.Parts.Sum(p => p.StoredBytes);
        foreach (var (incremental, most) in new[] { (incr1, fullStored), (incr2, fullStored / 2), (diff, fullStored) })
        {
            var stored = incremental.Parts.Sum(p => p.StoredBytes);
            TestContext.Current.SendDiagnosticMessage($"{incremental.Type} {incremental.Label}: {stored} bytes stored, the full one {fullStored}");
            Assert.True(stored < most, $"{incremental.Type} {incremental.Label} stored {stored} bytes, the full one {fullStored}");
        }
    }

    /// <summary>
    /// <c>pgvault backup --type incr</c> killed (SIGKILL) while it writes its changes: the interrupted incremental never
    /// looks complete (repository, <c>pgvault info</c>, the API once the next backup found it, the restore planner), the
    /// next incremental refers to the full one and restores to the source's state. Then <c>verify</c>: clean, then with a
    /// part of the full one damaged it names every incremental restored over it, and a missing block map.
    /// </summary>
    [Fact]
    public async Task An_incremental_killed_while_writing_never_looks_complete_the_next_restores_and_verify_names_a_damaged_fulls_dependents()
    {
        await using var pg = await PostgresCluster.StartAsync("incr-kill", "", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "10", "-q");
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("incr-kill-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:GroupAccess"] = "true";
        // Small parts: the changes reach the repository part by part while the incremental runs.
        settings["PgVault:Engine:BaseBackupPartSizeBytes"] = (4 << 20).ToString(CultureInfo.InvariantCulture);
        if (TestEnvironment.IsRoot)
            await PgVault.Hosting.StateDirectory.ShareWithGroupAsync(data.Path, "postgres", Ct);
        var repository = new Lazy<LocalObjectStore>(() => new LocalObjectStore(Path.Combine(data.Path, "repository")));
        var (fullCode, fullOutput) = await PgVaultProcess.RunAsync(["backup", "--cluster", clusterId, "--type", "full"], settings, Bounded);
        Assert.True(fullCode == 0, fullOutput);
        var full = Assert.Single(Assert.Single(await ChainRepository.ScanAsync(repository.Value, clusterId, Ct)).BaseBackups);

        // Every row rewritten: the incremental's changes are about the size of the table, many parts.
        await pg.ExecuteAsync("UPDATE pgbench_accounts SET abalance = abalance + 1", ct: Ct);
        var catalog = new PgVault.Catalog.Sqlite.SqliteCatalog($"Data Source={Path.Combine(data.Path, "catalog.db")}");
        var backupId = Assert.Single(await ChainRepository.ScanAsync(repository.Value, clusterId, Ct)).Metadata!.BackupId;
        string interrupted;
        using (var process = System.Diagnostics.Process.Start(PgVaultProcess.StartInfo(["backup", "--cluster", clusterId, "--type", "incr"], settings))!)
        {
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            PgVault.Catalog.BaseBackupRecord? running = null;
            await Wait.UntilAsync(async () =>
            {
                Assert.False(process.HasExited, "the incremental base backup ended before it could be killed");
                running = (await catalog.ListBaseBackupsAsync(backupId, Ct)).FirstOrDefault(b => b.State == PgVault.Catalog.BaseBackupState.Running);
                if (running is null)
                    return false;
                var chainId = Assert.Single(await ChainRepository.ScanAsync(repository.Value, clusterId, Ct)).ChainId;
                var prefix = Path.Combine(data.Path, "repository", RepositoryLayout.BaseBackupPrefix(clusterId, chainId, running.Label));
                return Directory.Exists(prefix) && Directory.EnumerateFiles(prefix, "delta.*").Any();
            }, Bounded, "the incremental base backup to be writing its changes");
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(Ct);
            interrupted = running!.Label;
            Assert.Equal("incr", running.Type);
        }

        var scanned = Assert.Single(await ChainRepository.ScanAsync(repository.Value, clusterId, Ct));
        var left = scanned.BaseBackups.Single(b => b.Label == interrupted);
        Assert.False(left.Complete, "an interrupted incremental base backup looks complete");
        Assert.False(scanned.IsRestorable(left));
        var (infoCode, info) = await PgVaultProcess.RunAsync(["info"], settings);
        Assert.True(infoCode == 0, info);
        Assert.Contains($"base backup {interrupted}: incomplete", info, StringComparison.Ordinal);

        // The restore planner passes it by: the full one is restored.
        await WaitForSlotReleasedAsync(pg);
        using (var target = new TempDirectory("incr-kill-restored"))
        {
            var (restored, restoreOutput) = await PgVaultProcess.RunAsync(
                ["restore", "--backup-id", backupId, "--to", target.Path, "--target", "immediate"], settings, Bounded);
            Assert.True(restored == 0, restoreOutput);
            Assert.Contains($"restoring base backup {full.Label}", restoreOutput, StringComparison.Ordinal);
        }

        // The next incremental refers to the full one, marks the interrupted one failed, and restores to the source's state.
        var next = await BackupAndCheckAsync(pg, settings, repository, clusterId, "incr");
        Assert.Equal(BaseBackupType.Incr, next.Type);
        Assert.Equal(new[] { full.Label }, next.References);
        var records = await catalog.ListBaseBackupsAsync(backupId, Ct);
        Assert.Equal(PgVault.Catalog.BaseBackupState.Failed, records.Single(b => b.Label == interrupted).State);
        Assert.Equal(["full", "incr", "incr"], records.Select(b => b.Type));

        // verify: one more incremental over the full one, all clean (the interrupted one is a note); then a part of the full
        // one damaged, and verify names every base backup restored over it.
        await pg.ExecuteAsync("UPDATE pgbench_branches SET bbalance = bbalance + 1", ct: Ct);
        var (thirdCode, thirdOutput) = await PgVaultProcess.RunAsync(["backup", "--cluster", clusterId, "--type", "incr"], settings, Bounded);
        Assert.True(thirdCode == 0, thirdOutput);
        var third = Assert.Single(await ChainRepository.ScanAsync(repository.Value, clusterId, Ct)).BaseBackups
            .Where(b => b.Complete).OrderBy(b => b.Label, StringComparer.Ordinal).Last();
        Assert.Equal(new[] { full.Label, next.Label }, third.Metadata!.References);
        var (clean, cleanOutput) = await PgVaultProcess.RunAsync(["verify"], settings, Bounded);
        Assert.True(clean == 0, cleanOutput);
        Assert.Contains($"base backup {interrupted} is incomplete", cleanOutput, StringComparison.Ordinal);
        var damagedKey = full.Metadata!.Parts[0].Key;
        var damagedPath = Path.Combine(data.Path, "repository", damagedKey);
        var bytes = await File.ReadAllBytesAsync(damagedPath, Ct);
        bytes[bytes.Length / 2] ^= 0x5A;
        await File.WriteAllBytesAsync(damagedPath, bytes, Ct);
        var (dirty, dirtyOutput) = await PgVaultProcess.RunAsync(["verify"], settings, Bounded);
        Assert.True(dirty == 1, dirtyOutput);
        Assert.Contains(damagedKey, dirtyOutput, StringComparison.Ordinal);
        Assert.Contains($"base backup {full.Label} is damaged (see the objects above), and base backups {next.Label}, {third.Label} are restored over it",
            dirtyOutput, StringComparison.Ordinal);
        var blockMap = third.Metadata!.BlockMap!.Key;
        File.Delete(Path.Combine(data.Path, "repository", blockMap));
        var (noMap, noMapOutput) = await PgVaultProcess.RunAsync(["verify"], settings, Bounded);
        Assert.True(noMap == 1, noMapOutput);
        Assert.Contains(blockMap, noMapOutput, StringComparison.Ordinal);

        settings["PgVault:Engine:Enabled"] = "false";
        await using var server = await ApiServer.StartAsync("incr-kill-api", settings, dataDirectory: data);
        using var http = server.Client(StreamingAndBaseBackupTests.Token);
        var listed = System.Text.Json.Nodes.JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/backups/{backupId}/basebackups", UriKind.Relative), Ct))!;
        var item = listed["items"]!.AsArray().Single(i => i!["id"]!.GetValue<string>() == interrupted)!;
        Assert.Equal("FAILED", item["metadata"]!["state"]!.GetValue<string>());
    }

    /// <summary>
    /// A relation growing past 1 GiB between a full and an incremental base backup: its first segment file grows (new
    /// blocks stored as changed blocks) and its second segment file (<c>.1</c>) is new, stored whole. The restore composes
    /// both byte for byte: pg_verifybackup checks every file against the incremental's own manifest, the restore checks
    /// every block against its block map, and the restored table equals the source's. Rows of 1,800 bytes (PLAIN
    /// storage, no compression) fill the gigabyte with few rows.
    /// </summary>
    [Fact]
    public async Task A_relation_growing_past_1_GiB_gets_its_second_segment_in_an_incremental_and_restores_exactly()
    {
        await using var pg = await PostgresCluster.StartAsync("incr-seg", "max_wal_size = 4GB\n", ct: Ct);
        await pg.ExecuteAsync("""
            CREATE TABLE big (id int NOT NULL, pad char(1800) NOT NULL) WITH (autovacuum_enabled = off);
            ALTER TABLE big ALTER pad SET STORAGE PLAIN;
            INSERT INTO big SELECT g, 'x' FROM generate_series(1, 20000) g;
            """, ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("incr-seg-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:GroupAccess"] = "true";
        if (TestEnvironment.IsRoot)
            await PgVault.Hosting.StateDirectory.ShareWithGroupAsync(data.Path, "postgres", Ct);
        var (fullCode, fullOutput) = await PgVaultProcess.RunAsync(["backup", "--cluster", clusterId, "--type", "full"], settings, Bounded);
        Assert.True(fullCode == 0, fullOutput);

        // 4 rows a page: 140,000 pages more, past the 131,072 of a 1 GiB segment.
        await pg.ExecuteAsync("INSERT INTO big SELECT g, 'y' FROM generate_series(20001, 580000) g", ct: Ct);
        var relation = await Pg.ScalarAsync<string>(pg, "SELECT pg_relation_filepath('big')");
        Assert.True(File.Exists(Path.Combine(pg.DataDirectory, relation + ".1")), "the table has a second segment file");
        var (incrCode, incrOutput) = await PgVaultProcess.RunAsync(["backup", "--cluster", clusterId, "--type", "incr"], settings, Bounded);
        Assert.True(incrCode == 0, incrOutput);
        const string Sums = "SELECT count(*) || ':' || md5(string_agg(md5(t::text), '' ORDER BY id)) FROM big t";
        var source = await Pg.ScalarAsync<string>(pg, Sums);

        var chain = Assert.Single(await ChainRepository.ScanAsync(new LocalObjectStore(Path.Combine(data.Path, "repository")), clusterId, Ct));
        var incr = chain.BaseBackups.Where(b => b.Complete).OrderBy(b => b.Label, StringComparer.Ordinal).Last().Metadata!;
        Assert.Equal(BaseBackupType.Incr, incr.Type);
        using var target = new TempDirectory("incr-seg-restored");
        var (restored, restoreOutput) = await PgVaultProcess.RunAsync(
            ["restore", "--backup-id", chain.Metadata!.BackupId, "--to", target.Path, "--target", "immediate"], settings, Bounded);
        Assert.True(restored == 0, restoreOutput);
        Assert.Contains($"restoring base backup {incr.Label}", restoreOutput, StringComparison.Ordinal);
        Assert.Equal(new FileInfo(Path.Combine(pg.DataDirectory, relation + ".1")).Length, new FileInfo(Path.Combine(target.Path, relation + ".1")).Length);
        var (verified, verifyOutput) = await pg.RunPgRawAsync("pg_verifybackup", ["-n", target.Path], Ct);
        Assert.True(verified == 0, verifyOutput);
        await RestoreTests.WithServerAsync(pg, target.Path, async port =>
        {
            await WaitForPromotionAsync(port);
            await using var conn = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false");
            await conn.OpenAsync(Ct);
            await using var cmd = new Npgsql.NpgsqlCommand(Sums, conn);
            Assert.Equal(source, (string)(await cmd.ExecuteScalarAsync(Ct))!);
        });
    }

    /// <summary>Until no process streams through a replication slot of <paramref name="pg"/> (a killed one's walsender has ended).</summary>
    private static Task WaitForSlotReleasedAsync(PostgresCluster pg) =>
        Wait.UntilAsync(async () => await Pg.ScalarAsync<long>(pg, "SELECT count(*) FROM pg_replication_slots WHERE active") == 0,
            Bounded, "the killed process's replication connection to end");

    /// <summary>
    /// Takes a base backup of <paramref name="type"/> with the CLI, restores it to its consistency point, and checks the
    /// restore against the source (which takes no writes meanwhile): pg_dumpall and per-table checksums equal,
    /// pg_verifybackup and pg_amcheck clean. Returns its metadata.
    /// </summary>
    internal static async Task<BaseBackupMetadata> BackupAndCheckAsync(PostgresCluster pg, Dictionary<string, string?> settings,
        Lazy<LocalObjectStore> repository, string clusterId, string type)
    {
        var (code, output) = await PgVaultProcess.RunAsync(["backup", "--cluster", clusterId, "--type", type], settings, Bounded);
        Assert.True(code == 0, output);
        var dumpSource = await RestoreTests.DumpAllAsync(pg, pg.Port);
        var sumsSource = await TableChecksumsAsync(pg.Port);

        var chain = Assert.Single(await ChainRepository.ScanAsync(repository.Value, clusterId, Ct));
        var newest = chain.BaseBackups.Where(b => b.Complete).OrderBy(b => b.Metadata!.StartedAt).Last();
        using var target = new TempDirectory("incr-restored");
        var (restored, restoreOutput) = await PgVaultProcess.RunAsync(
            ["restore", "--backup-id", chain.Metadata!.BackupId, "--to", target.Path, "--target", "immediate"], settings, Bounded);
        Assert.True(restored == 0, restoreOutput);
        Assert.Contains($"restoring base backup {newest.Label}", restoreOutput, StringComparison.Ordinal);

        var (verified, verifyOutput) = await pg.RunPgRawAsync("pg_verifybackup", ["-n", target.Path], Ct);
        Assert.True(verified == 0, $"pg_verifybackup after the {type} base backup {newest.Label}: {verifyOutput}");

        await RestoreTests.WithServerAsync(pg, target.Path, async port =>
        {
            await WaitForPromotionAsync(port);
            Assert.Equal(dumpSource, await RestoreTests.DumpAllAsync(pg, port));
            Assert.Equal(sumsSource, await TableChecksumsAsync(port));
            var (amcheck, amcheckOutput) = await pg.RunPgRawAsync("pg_amcheck",
                ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "--all", "--install-missing", "--heapallindexed"], Ct);
            Assert.True(amcheck == 0, $"pg_amcheck after the {type} base backup {newest.Label}: {amcheckOutput}");
        });
        return newest.Metadata!;
    }

    private static async Task WaitForPromotionAsync(int port)
    {
        await Wait.UntilAsync(async () =>
        {
            await using var conn = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false");
            await conn.OpenAsync(Ct);
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT NOT pg_is_in_recovery()", conn);
            return (bool)(await cmd.ExecuteScalarAsync(Ct))!;
        }, Bounded, "the restored server to finish recovery");
    }

    /// <summary>Per database and table, an md5 of every row (sorted): computed in SQL on each side.</summary>
    private static async Task<SortedDictionary<string, string>> TableChecksumsAsync(int port)
    {
        var sums = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var databases = new List<string>();
        await using (var conn = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false"))
        {
            await conn.OpenAsync(Ct);
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1", conn);
            await using var reader = await cmd.ExecuteReaderAsync(Ct);
            while (await reader.ReadAsync(Ct))
                databases.Add(reader.GetString(0));
        }

        foreach (var db in databases)
        {
            await using var conn = new Npgsql.NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database={db};Pooling=false");
            await conn.OpenAsync(Ct);
            var tables = new List<string>();
            await using (var list = new Npgsql.NpgsqlCommand(
                             "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
                             "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND c.relpersistence = 'p' ORDER BY 1", conn))
            await using (var reader = await list.ExecuteReaderAsync(Ct))
            {
                while (await reader.ReadAsync(Ct))
                    tables.Add(reader.GetString(0));
            }

            foreach (var table in tables)
            {
                await using var sum = new Npgsql.NpgsqlCommand(
                    $"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t", conn);
                sums[$"{db}.{table}"] = (string)(await sum.ExecuteScalarAsync(Ct))!;
            }
        }

        return sums;
    }
}
