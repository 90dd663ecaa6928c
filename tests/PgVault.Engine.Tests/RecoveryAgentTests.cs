using System.Diagnostics;
using System.Globalization;
using PgVault.Engine.Repository;
using PgVault.Engine.Restore;
using PgVault.Postgres;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The WAL fetch agent (<see cref="WalFetchAgent"/>) through a real recovery: restores at once keep their own spools, a
/// killed agent does not stop recovery, a corrupt segment stops it (the object named) instead of ending it early, and no
/// spool is left once the server is promoted or the recovery abandoned.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class RecoveryAgentTests
{
    private const int Markers = 12;
    private static readonly TimeSpan Bounded = TimeSpan.FromMinutes(3);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A backup whose WAL after the base backup is <see cref="Markers"/> segments, one marker row in each.</summary>
    private static Task<(TempDirectory Data, Dictionary<string, string?> Settings, string BackupId)> BackupAsync(PostgresCluster pg) =>
        RestoreTests.BackupAsync(pg, async () =>
        {
            await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY)", ct: Ct);
            for (var n = 1; n <= Markers; n++)
            {
                await pg.ExecuteAsync($"INSERT INTO marker VALUES ({n})", ct: Ct);
                await Pg.ScalarAsync<string>(pg, "SELECT pg_switch_wal()::text");
            }
        });

    private static string SpoolOf(string dataDir) => Path.Combine(dataDir, WalFetcher.SpoolDirectory);

    [Fact]
    public async Task Two_restores_at_once_recover_with_their_own_spools_and_leave_none()
    {
        await using var pg = await PostgresCluster.StartAsync("two-restores", ct: Ct);
        var (data, settings, backupId) = await BackupAsync(pg);
        using var _ = data;
        using var a = new TempDirectory("restored-a");
        using var b = new TempDirectory("restored-b");

        var runs = await Task.WhenAll(
            PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", a.Path, "--verify"], settings, TimeSpan.FromMinutes(5)),
            PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", b.Path, "--verify"], settings, TimeSpan.FromMinutes(5)));

        foreach (var (code, output) in runs)
        {
            Assert.True(code == 0, output);
            Assert.Contains("pg_amcheck --all found no corruption", output, StringComparison.Ordinal);
        }

        // Each agent removes its own spool once its server is promoted (it looks every 250 ms).
        foreach (var dir in new[] { a.Path, b.Path })
            await Wait.UntilAsync(() => Task.FromResult(!Directory.Exists(SpoolOf(dir))), TimeSpan.FromSeconds(30), $"{SpoolOf(dir)} removed");
        Assert.Equal(Markers, await RestoreTests.CountMarkersAsync(pg, a.Path));
        Assert.Equal(Markers, await RestoreTests.CountMarkersAsync(pg, b.Path));
    }

    private static async Task<int?> AgentPidAsync(string lockFile)
    {
        try
        {
            if (!File.Exists(lockFile))
                return null;
            // Read by another program: .NET's own open would take a shared flock, which the agent's exclusive one refuses.
            var psi = new ProcessStartInfo("cat") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(lockFile);
            using var cat = Process.Start(psi)!;
            var text = await cat.StandardOutput.ReadToEndAsync(Ct);
            await cat.WaitForExitAsync(Ct);
            if (!int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                return null;
            using var p = Process.GetProcessById(pid); // throws when no such process
            return pid;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }

    [Fact]
    public async Task A_restore_whose_agent_is_killed_mid_recovery_still_completes()
    {
        await using var pg = await PostgresCluster.StartAsync("agent-killed", ct: Ct);
        var (data, settings, backupId) = await BackupAsync(pg);
        using var _ = data;
        using var target = new TempDirectory("agent-killed-restored");
        var (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", target.Path], settings, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, output);

        // Kill the first agent with SIGKILL as soon as it has written its pid (it starts at recovery's first request).
        var lockFile = Path.Combine(SpoolOf(target.Path), WalFetchAgent.LockFile);
        using var stopKiller = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var killer = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    if (await AgentPidAsync(lockFile) is { } pid)
                    {
                        using var agent = Process.GetProcessById(pid);
                        agent.Kill();
                        await agent.WaitForExitAsync(stopKiller.Token);
                        return pid;
                    }

                    await Task.Delay(10, stopKiller.Token);
                }
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
        }, CancellationToken.None);

        long markers = -1;
        await RestoreTests.WithServerAsync(pg, target.Path, async port =>
        {
            var cs = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false";
            await Wait.UntilAsync(async () =>
            {
                await using var conn = new Npgsql.NpgsqlConnection(cs);
                await conn.OpenAsync(Ct);
                await using var cmd = new Npgsql.NpgsqlCommand("SELECT NOT pg_is_in_recovery()", conn);
                return (bool)(await cmd.ExecuteScalarAsync(Ct))!;
            }, Bounded, "promotion after the agent was killed");
            await using var c = new Npgsql.NpgsqlConnection(cs);
            await c.OpenAsync(Ct);
            await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM marker", c);
            markers = (long)(await count.ExecuteScalarAsync(Ct))!;
        });
        await stopKiller.CancelAsync();
        var killed = await killer.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.True(killed > 0, "no agent ran during recovery");
        Assert.Equal(Markers, markers);
    }

    /// <summary>A whole segment of the backup's WAL after its base backup's end and before its last one (recovery must replay it).</summary>
    private static async Task<WalObject> SegmentInsideAsync(TempDirectory data, string backupId)
    {
        var store = new Engine.Storage.LocalObjectStore(Path.Combine(data.Path, "repository"));
        var (cluster, _) = WalFetcher.ParseBackupId(backupId);
        var chain = (await RepositoryScanner.ScanAsync(store, cluster, Ct)).Single(c => c.Metadata?.BackupId == backupId);
        var baseEnd = Lsn.Parse(chain.BaseBackups.Single(b => b.Complete).Metadata!.EndLsn);
        var inside = chain.Wal.Where(w => !w.Partial && w.Segment > baseEnd.Value / WalSegment.DefaultSizeBytes).OrderBy(w => w.Segment).ToList();
        Assert.True(inside.Count >= 6, $"expected at least 6 whole segments after the base backup, found {inside.Count}");
        // A few segments in: the agent, fetching ahead from the start, reaches it before recovery asks for it.
        return inside[inside.Count / 2];
    }

    [Fact]
    public async Task A_corrupt_segment_in_the_repository_stops_recovery_naming_the_object_and_the_spool_goes()
    {
        await using var pg = await PostgresCluster.StartAsync("corrupt-segment", ct: Ct);
        var (data, settings, backupId) = await BackupAsync(pg);
        using var _ = data;
        var victim = await SegmentInsideAsync(data, backupId);
        var path = Path.Combine(data.Path, "repository", victim.Key);
        var bytes = await File.ReadAllBytesAsync(path, Ct);
        bytes[bytes.Length / 2] ^= 0xFF; // the same key, damaged bytes: a decode error or a SHA-256 mismatch
        await File.WriteAllBytesAsync(path, bytes, Ct);

        using var target = new TempDirectory("corrupt-restored");
        var (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", target.Path, "--verify"], settings,
            TimeSpan.FromMinutes(5));

        // PostgreSQL aborted (restore_command exit 126), it did not take the damage for the end of the WAL and promote.
        Assert.True(code != 0, "the restore succeeded although a segment it must replay is corrupt: " + output);
        Assert.DoesNotContain("promoted at", output, StringComparison.Ordinal);
        Assert.DoesNotContain("found no corruption", output, StringComparison.Ordinal);
        Assert.Contains(victim.Key, output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(target.Path, "recovery.signal")), "recovery.signal is gone: the server left recovery");

        // The recovery was abandoned: the agent removes its spool once the server is gone.
        await Wait.UntilAsync(() => Task.FromResult(!Directory.Exists(SpoolOf(target.Path))), TimeSpan.FromSeconds(30),
            $"{SpoolOf(target.Path)} removed after the aborted recovery");
    }

    [Fact]
    public async Task A_recovery_stopped_before_its_end_leaves_no_spool()
    {
        await using var pg = await PostgresCluster.StartAsync("abandoned", ct: Ct);
        var (data, settings, backupId) = await BackupAsync(pg);
        using var _ = data;
        using var target = new TempDirectory("abandoned-restored");
        // Recovery to the base backup's consistency point, there paused instead of promoted: it stays in recovery with
        // the agent running (the markers' segments lie ahead of it) until the server is stopped.
        var (code, output) = await PgVaultProcess.RunAsync(["restore", "--backup-id", backupId, "--to", target.Path, "--target", "immediate"],
            settings, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, output);
        var auto = Path.Combine(target.Path, "postgresql.auto.conf");
        var conf = await File.ReadAllTextAsync(auto, Ct);
        Assert.Contains("recovery_target_action = 'promote'", conf, StringComparison.Ordinal);
        // The restore synced its filesystem: the server's startup pass over the directory is one syncfs, not an fsync per file.
        Assert.Contains("recovery_init_sync_method = 'syncfs'", conf, StringComparison.Ordinal);
        await File.WriteAllTextAsync(auto, conf.Replace("recovery_target_action = 'promote'", "recovery_target_action = 'pause'", StringComparison.Ordinal), Ct);

        var lockFile = Path.Combine(SpoolOf(target.Path), WalFetchAgent.LockFile);
        await RestoreTests.WithServerAsync(pg, target.Path, async port =>
        {
            var cs = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false";
            await Wait.UntilAsync(async () =>
            {
                await using var conn = new Npgsql.NpgsqlConnection(cs);
                await conn.OpenAsync(Ct);
                await using var cmd = new Npgsql.NpgsqlCommand("SELECT pg_get_wal_replay_pause_state()", conn);
                return (string)(await cmd.ExecuteScalarAsync(Ct))! == "paused";
            }, Bounded, "recovery paused at the consistency point");
            await Wait.UntilAsync(async () => await AgentPidAsync(lockFile) is not null, TimeSpan.FromSeconds(30), "the agent running");
        }); // stopped (fast) in recovery: abandoned

        await Wait.UntilAsync(() => Task.FromResult(!Directory.Exists(SpoolOf(target.Path))), TimeSpan.FromSeconds(30),
            $"{SpoolOf(target.Path)} removed after the recovery was abandoned");
        Assert.True(File.Exists(Path.Combine(target.Path, "recovery.signal")), "the server was promoted: the recovery was not abandoned");
    }
}
