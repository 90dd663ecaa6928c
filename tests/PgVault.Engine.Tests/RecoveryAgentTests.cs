using System.Diagnostics;
using System.Globalization;
using PgVault.Engine.Restore;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The WAL fetch agent (<see cref="WalFetchAgent"/>) through a real recovery: restores at once keep their own spools, a
/// killed agent does not stop recovery, and no spool is left once the server is promoted.
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
}
