using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using PgVault.Engine.Compression;
using PgVault.Engine.Restore;
using PgVault.Engine.Storage;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The restore_command's shell line (<see cref="WalSpoolCommand"/>) with the spool's <see cref="WalFetchAgent"/>, run
/// through the real <c>/bin/sh</c> in a directory that looks like a recovering data directory (no PostgreSQL): segments
/// kept ahead and taken without starting PgVault, absent files answered, corrupt ones never handed over, one agent per
/// spool, and the spool gone when recovery ends or is abandoned.
/// </summary>
public sealed class WalFetchAgentTests : IDisposable
{
    private const string Cluster = "0e42f901-2c4a-4e8b-9f10-1a2b3c4d5e6f";
    private const string Chain = "agent001";
    private const string BackupId = Cluster + "-" + Chain + "-15";
    private const string Prefix = "clusters/" + Cluster + "/chains/" + Chain + "/";
    private const ulong First = 3;
    private const ulong Last = 10;

    private readonly TempDirectory _dir = new("wal-agent");
    private readonly string _data;
    private readonly LocalObjectStore _store;
    private readonly Dictionary<ulong, byte[]> _segments = [];

    public WalFetchAgentTests()
    {
        _data = Directory.CreateDirectory(Path.Combine(_dir.Path, "data")).FullName;
        Directory.CreateDirectory(Path.Combine(_data, "pg_wal"));
        File.WriteAllText(Path.Combine(_data, "recovery.signal"), "");
        File.WriteAllText(Path.Combine(_data, "postmaster.pid"), $"{Environment.ProcessId}\n{_data}\n");
        File.WriteAllText(Path.Combine(_data, "backup_label"),
            "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\nCHECKPOINT LOCATION: 0/3000060\n");
        _store = new LocalObjectStore(Path.Combine(_dir.Path, "repository"));
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Spool => Path.Combine(_data, WalFetcher.SpoolDirectory);

    private string Calls => Path.Combine(_dir.Path, "fallback-calls");

    public void Dispose() => _dir.Dispose();

    /// <summary>Timeline 1, segments <see cref="First"/> to <see cref="Last"/> whole (mostly zeros: small stored).</summary>
    private async Task WriteRepositoryAsync()
    {
        await _store.WriteBytesAsync(Prefix + "chain.json", Encoding.UTF8.GetBytes($$"""
            {
              "formatVersion": 1, "backupId": "{{BackupId}}", "clusterId": "{{Cluster}}", "chainId": "{{Chain}}",
              "systemIdentifier": "7301234567890123456", "timeline": 1, "startLsn": "0/3000000",
              "createdAt": "2026-01-02T03:00:00+00:00", "postgresMajor": "15", "location": "local", "walSegmentSizeBytes": 16777216
            }
            """), Ct);
        for (var n = First; n <= Last; n++)
        {
            var data = new byte[WalSegment.DefaultSizeBytes];
            RandomNumberGenerator.Fill(data.AsSpan(0, 4096));
            _segments[n] = data;
            await WriteSegmentAsync(n, data, data);
        }
    }

    /// <summary>Stores <paramref name="stored"/> under the key of a segment whose recorded SHA-256 is <paramref name="recorded"/>'s.</summary>
    private async Task WriteSegmentAsync(ulong n, byte[] recorded, byte[] stored)
    {
        var name = WalSegment.Name(1, n);
        var sha = Convert.ToHexStringLower(SHA256.HashData(recorded));
        await _store.WriteCompressedAsync($"{Prefix}wal/00000001/{name}-{sha}.zst", new MemoryStream(stored), ZstdCodec.Default, Ct);
    }

    /// <summary>The restore_command with a stand-in for <c>pgvault wal-fetch</c> that records its call and fails.</summary>
    private string Command(string file) =>
        RestoreCommandQuotingTests.ExpandLikePostgres(WalSpoolCommand.Build($"echo \"%f\" >> '{Calls}'; exit 7"), file, "pg_wal/RECOVERYXLOG");

    private async Task<(int Code, TimeSpan Took)> RunShellAsync(string file)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = _data, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Command(file));
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var errors = p.StandardError.ReadToEndAsync(Ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(limit.Token);
        Assert.True(string.IsNullOrEmpty(await errors), "the shell complained: " + await errors);
        return (p.ExitCode, clock.Elapsed);
    }

    /// <summary>
    /// What PostgreSQL reads after the restore_command exited <paramref name="code"/>: the restored file (0), or, when
    /// the archive "has no such file" (1), the segment under its own name in pg_wal, which it looks at next.
    /// </summary>
    private async Task<byte[]> HandedOverAsync(int code, string name)
    {
        var path = code switch
        {
            0 => Path.Combine(_data, "pg_wal", "RECOVERYXLOG"),
            1 => Path.Combine(_data, "pg_wal", name),
            _ => throw new Xunit.Sdk.XunitException($"the restore_command exited {code} for {name}"),
        };
        Assert.True(File.Exists(path), $"exit {code} for {name}, and {path} does not exist");
        var data = await File.ReadAllBytesAsync(path, Ct);
        File.Delete(path); // as PostgreSQL does with what it restored, and recycles what it read from pg_wal
        return data;
    }

    private string[] FallbackCalls() => File.Exists(Calls) ? File.ReadAllLines(Calls) : [];

    private (WalFetchAgent Agent, Task<bool> Run, CancellationTokenSource Stop) StartAgent(int ahead = 3, string? after = null)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var agent = new WalFetchAgent(_store, BackupId, Spool, _data,
            // Widen = 1: the spool holds at most `ahead` segments (the bound these tests check), however often the shell waits.
            new WalFetchAgentOptions { AheadSegments = ahead, Jobs = 2, Widen = 1, Poll = TimeSpan.FromMilliseconds(50) }, TextWriter.Null);
        return (agent, Task.Run(() => agent.RunAsync(after, stop.Token), CancellationToken.None), stop);
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            if (limit.IsCancellationRequested)
                Assert.Fail("timed out waiting for " + what);
            await Task.Delay(20, CancellationToken.None);
        }
    }

    private static bool IsSegment(string path) => WalSegment.TryParse(Path.GetFileName(path), out _, out _);

    private int SpooledSegments() =>
        Directory.Exists(Spool) ? Directory.EnumerateFiles(Spool).Count(f => WalSegment.TryParse(Path.GetFileName(f), out _, out _)) : 0;

    [Fact]
    public async Task Spooled_segments_are_taken_by_the_shell_alone_and_absent_files_answered_by_the_agent()
    {
        await WriteRepositoryAsync();
        var (agent, run, stop) = StartAgent(ahead: 3);
        using var _ = stop;
        // From backup_label: the base backup's first segment is fetched before recovery asks for anything.
        await WaitForAsync(() => File.Exists(Path.Combine(Spool, WalSegment.Name(1, First))), "the first segment in the spool");
        await WaitForAsync(() => SpooledSegments() == 3, "three segments ahead");

        for (var n = First; n <= Last; n++)
        {
            Assert.InRange(SpooledSegments(), 0, 3); // bounded: never more than asked for
            var (code, _) = await RunShellAsync(WalSegment.Name(1, n));
            Assert.Equal(_segments[n], await HandedOverAsync(code, WalSegment.Name(1, n)));
            if (n == First)
                Assert.Equal(1, code); // fetched ahead and linked into pg_wal: no mv, PostgreSQL reads pg_wal/%f
        }

        // Past the end, and a history file of a timeline that never was: "no such file" without starting PgVault.
        Assert.Equal(1, (await RunShellAsync(WalSegment.Name(1, Last + 1))).Code);
        Assert.Equal(1, (await RunShellAsync("00000002.history")).Code);
        Assert.Empty(FallbackCalls());
        Assert.True(agent.Prefetched >= (int)(Last - First + 1) - 1, $"only {agent.Prefetched} segments were fetched ahead");

        // Promotion removes recovery.signal: the agent ends and takes the spool with it.
        File.Delete(Path.Combine(_data, "recovery.signal"));
        Assert.True(await run.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        Assert.False(Directory.Exists(Spool), "the spool is left after recovery ended");
    }

    [Fact]
    public async Task A_corrupt_segment_is_never_handed_over_and_wal_fetch_stops_recovery_naming_it()
    {
        await WriteRepositoryAsync();
        var bad = First + 1;
        var other = new byte[WalSegment.DefaultSizeBytes];
        await WriteSegmentAsync(bad, _segments[bad], other); // the recorded SHA-256 no longer matches
        var (_, run, stop) = StartAgent(ahead: 4, after: WalSegment.Name(1, First));
        using var _ = stop;

        var (code, _) = await RunShellAsync(WalSegment.Name(1, bad));
        Assert.Equal(7, code); // the agent's answer: run wal-fetch (here the stand-in, which fails)
        Assert.Equal([WalSegment.Name(1, bad)], FallbackCalls());
        Assert.False(File.Exists(Path.Combine(_data, "pg_wal", "RECOVERYXLOG")));
        Assert.False(File.Exists(Path.Combine(Spool, WalSegment.Name(1, bad))));
        Assert.False(File.Exists(Path.Combine(_data, "pg_wal", WalSegment.Name(1, bad))), "a corrupt segment was linked into pg_wal");

        // The real wal-fetch: exit 126 (PostgreSQL aborts recovery rather than end it here), the object named.
        var (fetchCode, output) = await PgVaultProcess.RunAsync(
            ["wal-fetch", "--repository", Path.Combine(_dir.Path, "repository"), "--backup-id", BackupId, "--prefetch", "0",
             WalSegment.Name(1, bad), Path.Combine(_dir.Path, "fetched")], new Dictionary<string, string?>());
        Assert.True(fetchCode == WalFetcher.Fatal, $"wal-fetch exited {fetchCode}: {output}");
        Assert.Contains(WalSegment.Name(1, bad), output, StringComparison.Ordinal);
        await stop.CancelAsync();
        Assert.True(await run.WaitAsync(TimeSpan.FromSeconds(30), Ct));
    }

    [Fact]
    public async Task One_agent_per_spool_and_the_shell_does_not_wait_for_a_dead_one()
    {
        await WriteRepositoryAsync();
        var (_, run, stop) = StartAgent();
        using var _ = stop;
        await WaitForAsync(() => WalFetchAgent.IsRunning(Spool), "the agent's lock");
        var (_, second, stopSecond) = StartAgent();
        using var __ = stopSecond;
        Assert.False(await second.WaitAsync(TimeSpan.FromSeconds(30), Ct)); // refused at once: the spool has its agent
        Assert.True(Directory.Exists(Spool), "the refused agent touched the running one's spool");

        await stop.CancelAsync();
        Assert.True(await run.WaitAsync(TimeSpan.FromSeconds(30), Ct));

        // An agent killed (SIGKILL) leaves its pid file behind: the shell sees the process is gone and runs wal-fetch at once.
        PrivateFiles.EnsurePrivateDirectory(Spool, "test spool");
        using (var dead = Process.Start("/bin/true")!)
        {
            await dead.WaitForExitAsync(Ct);
            await File.WriteAllTextAsync(Path.Combine(Spool, WalFetchAgent.LockFile), $"{dead.Id}\n", Ct);
        }

        var (code, took) = await RunShellAsync(WalSegment.Name(1, First));
        Assert.Equal(7, code);
        Assert.Equal([WalSegment.Name(1, First)], FallbackCalls());
        Assert.True(took < TimeSpan.FromSeconds(10), $"the shell waited {took} for a dead agent");
        Assert.False(WalFetchAgent.IsRunning(Spool));
    }

    [Fact]
    public async Task An_abandoned_recovery_ends_the_agent_and_removes_the_spool()
    {
        await WriteRepositoryAsync();
        var (_, run, stop) = StartAgent();
        using var _ = stop;
        await WaitForAsync(() => SpooledSegments() > 0, "a segment in the spool");

        // The server stopped (or was killed): its postmaster.pid names no process any more.
        using (var dead = Process.Start("/bin/true")!)
        {
            await dead.WaitForExitAsync(Ct);
            await File.WriteAllTextAsync(Path.Combine(_data, "postmaster.pid"), $"{dead.Id}\n{_data}\n", Ct);
        }

        Assert.True(await run.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        Assert.False(Directory.Exists(Spool), "the spool is left after the recovery was abandoned");
        Assert.DoesNotContain(Directory.EnumerateFiles(Path.Combine(_data, "pg_wal")), IsSegment); // no link left behind
    }
}
