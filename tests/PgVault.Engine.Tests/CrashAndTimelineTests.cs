using System.Diagnostics;
using PgVault.Catalog;
using PgVault.Catalog.Sqlite;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>PgVault killed mid base backup and mid streaming, PostgreSQL restarted mid-stream, and a promoted standby.</summary>
[Trait("Category", "Postgres")]
public sealed class CrashAndTimelineTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary><c>pgvault serve</c> as a separate process, so it can be killed with SIGKILL.</summary>
    private sealed class ServeProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

        public ServeProcess(Dictionary<string, string?> settings)
        {
            var psi = PgVaultProcess.StartInfo(["serve", "--urls", "http://127.0.0.1:0"], settings);
            _process = new Process { StartInfo = psi };
            _process.OutputDataReceived += (_, e) => Keep(e.Data);
            _process.ErrorDataReceived += (_, e) => Keep(e.Data);
            _process.Start();
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        /// <summary>The last lines serve wrote (stdout and stderr), for a failure message.</summary>
        public string Output => string.Join("\n", _output);

        private void Keep(string? line)
        {
            if (line is null)
                return;
            _output.Enqueue(line);
            while (_output.Count > 200)
                _output.TryDequeue(out _);
        }

        public void Kill() => _process.Kill(entireProcessTree: true);

        /// <summary>SIGTERM, as a service manager stops it; returns the exit code.</summary>
        public async Task<int> StopAsync(TimeSpan timeout)
        {
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await term.WaitForExitAsync(Ct);
            await _process.WaitForExitAsync(Ct).WaitAsync(timeout, Ct);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
            _process.Dispose();
        }
    }

    private static Dictionary<string, string?> Settings(string clusterId, PostgresCluster pg, TempDirectory data)
    {
        var s = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        s["PgVault:DataDirectory"] = data.Path;
        // Small parts, so a running base backup shows in the repository part by part (PgVault cuts parts when it compresses).
        s["PgVault:Engine:BaseBackupCompression"] = "Client";
        s["PgVault:Engine:BaseBackupPartSizeBytes"] = (8 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return s;
    }

    private static SqliteCatalog Catalog(TempDirectory data) => new($"Data Source={Path.Combine(data.Path, "catalog.db")}");

    private static async Task<ScannedChain> ChainAsync(TempDirectory data, string clusterId) =>
        (await RepositoryScanner.ScanAsync(new LocalObjectStore(Path.Combine(data.Path, "repository")), clusterId, Ct))
        .OrderBy(c => c.Metadata!.CreatedAt).Last();

    private static Task ChainStartsAsync(IObjectStore store, string clusterId) =>
        Wait.UntilAsync(async () => (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Any(c => c.Metadata is not null),
            Bounded, "the chain to start");

    /// <summary>Waits until the repository's contiguous WAL (from the chain's start) reaches <paramref name="lsn"/>.</summary>
    private static Task WalReachesAsync(TempDirectory data, string clusterId, Lsn lsn) =>
        Wait.UntilAsync(async () => (await ChainAsync(data, clusterId)).DurableEnd >= lsn, Bounded,
            $"contiguous WAL in the repository up to {lsn}");

    [Fact]
    public async Task Killed_mid_base_backup_and_mid_streaming_then_restarted_nothing_partial_looks_complete_and_the_WAL_has_no_gap()
    {
        await using var pg = await PostgresCluster.StartAsync("crash", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "20", "-q");
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("crash-data");
        var settings = Settings(clusterId, pg, data);
        var catalog = Catalog(data);

        string interrupted;
        await using (var serve = new ServeProcess(settings))
        {
            BaseBackupRecord? running = null;
            await Wait.UntilAsync(async () =>
            {
                if (!File.Exists(Path.Combine(data.Path, "catalog.db")))
                    return false;
                var active = await TryActiveAsync(catalog, clusterId);
                running = active is null ? null : (await catalog.ListBaseBackupsAsync(active.Id, Ct)).FirstOrDefault(b => b.State == BaseBackupState.Running);
                return running is not null && Directory.EnumerateFiles(Path.Combine(data.Path, "repository"), "data.*", SearchOption.AllDirectories).Any();
            }, Bounded, "a base backup to be running and writing");
            serve.Kill();
            interrupted = running!.Label;
        }

        var afterKill = await ChainAsync(data, clusterId);
        Assert.False(afterKill.BaseBackups.Single(b => b.Label == interrupted).Complete, "an interrupted base backup looks complete");
        Assert.False(File.Exists(Path.Combine(data.Path, "repository", RepositoryLayout.BaseBackupComplete(clusterId, afterKill.ChainId, interrupted))));

        // WAL written while PgVault is down stays on the server (the slot) and is streamed after the restart.
        await Pg.PgbenchAsync(pg, "-c", "2", "-t", "500", "-n");
        var whileDown = await Pg.FlushLsnAsync(pg);

        await using (var serve = new ServeProcess(settings))
        {
            await WalReachesAsync(data, clusterId, whileDown);
            await Wait.UntilAsync(async () => (await catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available, Bounded,
                "a new base backup after the restart");
            var bases = await catalog.ListBaseBackupsAsync((await catalog.GetActiveBackupAsync(clusterId, Ct))!.Id, Ct);
            Assert.Equal(BaseBackupState.Failed, bases.Single(b => b.Label == interrupted).State);

            // Killed again while streaming under load.
            var load = Pg.PgbenchAsync(pg, "-c", "2", "-T", "6", "-n");
            await Task.Delay(TimeSpan.FromSeconds(3), Ct);
            serve.Kill();
            await load;
        }

        var beforeRestart = await Pg.FlushLsnAsync(pg);
        await using (var serve = new ServeProcess(settings))
        {
            await WalReachesAsync(data, clusterId, beforeRestart);

            // PostgreSQL restarted under PgVault's feet: streaming reconnects and goes on.
            var (code, output) = await pg.RunPgRawAsync("pg_ctl", ["restart", "-m", "fast", "-w", "-D", pg.DataDirectory, "-o", $"-p {pg.Port}", "-l", pg.LogFile], Ct);
            Assert.True(code == 0, output);
            Npgsql.NpgsqlConnection.ClearAllPools(); // the test's pooled connections died with the server
            await Pg.PgbenchAsync(pg, "-c", "2", "-t", "300", "-n");
            await WalReachesAsync(data, clusterId, await Pg.FlushLsnAsync(pg));
        }

        var chain = await ChainAsync(data, clusterId);
        Assert.Equal(afterKill.ChainId, chain.ChainId); // still the same chain
        var report = await ChainVerifier.VerifyAsync(new LocalObjectStore(Path.Combine(data.Path, "repository")), chain, null, Ct);
        Assert.True(report.Ok, string.Join("\n", report.Findings.Select(f => f.Message)));
    }

    /// <summary>
    /// The streamer makes a finished segment's tail durable as a piece before it stores the segment whole (so compressing
    /// 16 MiB never holds newer WAL back). Stopped in between, it leaves a segment held only as pieces: the repository must
    /// count it as complete (verify, the durable end, restores) and the next session must store it whole.
    /// </summary>
    [Fact]
    public async Task A_segment_left_as_pieces_only_counts_as_complete_and_is_stored_whole_after_the_restart()
    {
        await using var pg = await PostgresCluster.StartAsync("pieces", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("pieces-data");
        var settings = Settings(clusterId, pg, data);
        var store = new LocalObjectStore(Path.Combine(data.Path, "repository"));

        await using (var serve = new ServeProcess(settings))
        {
            await ChainStartsAsync(store, clusterId);
            await Pg.PgbenchAsync(pg, "-i", "-s", "5", "-q"); // a few segments of WAL
            var target = await Pg.InsertLsnAsync(pg);
            await WalReachesAsync(data, clusterId, target);
            var catalog = Catalog(data);
            await Wait.UntilAsync(async () => (await TryActiveAsync(catalog, clusterId))?.State == BackupState.Available, Bounded,
                "the first base backup");
            // Every finished segment ends up whole, its pieces deleted.
            await Wait.FinishedSegmentsWholeAsync(store, clusterId, Bounded);
            serve.Kill();
        }

        var before = await ChainAsync(data, clusterId);
        var last = before.Wal.Where(w => !w.Partial).OrderBy(w => w.Segment).Last();
        Assert.True(last.Segment < WalSegment.Number(before.DurableEnd), "the test needs a whole segment before the head");
        var content = (await new ChainRepository(store, clusterId, before.ChainId).ReadWalSegmentAsync(last.Timeline, last.Segment, Ct))!.Value;
        Assert.Equal(WalSegment.DefaultSizeBytes, content.Covered);

        // Replace the whole object with two pieces of the same bytes: a session stopped between the last piece and the whole object.
        var name = WalSegment.Name(last.Timeline, last.Segment);
        const int half = (int)(WalSegment.DefaultSizeBytes / 2);
        foreach (var (from, to) in new[] { (0, half), (half, (int)WalSegment.DefaultSizeBytes) })
        {
            var piece = content.Data.AsMemory(from, to - from);
            await new ChainRepository(store, clusterId, before.ChainId).WriteWalPieceAsync(last.Timeline, last.Segment, from, to, piece, 3, Ct);
        }

        await store.DeleteAsync([last.Key], Ct);
        var piecesOnly = await ChainAsync(data, clusterId);
        Assert.Equal(before.DurableEnd, piecesOnly.DurableEnd);
        Assert.Contains(last.Segment, piecesOnly.CompleteSegments());
        var report = await ChainVerifier.VerifyAsync(store, piecesOnly, null, Ct);
        Assert.True(report.Ok, string.Join("\n", report.Findings.Select(f => f.Message)));

        // A restore reads it from its pieces.
        using var restored = new TempDirectory("pieces-fetch");
        var fetched = await PgVault.Engine.Restore.WalFetcher.FetchAsync(store, piecesOnly.Metadata!.BackupId, name, Path.Combine(restored.Path, name), Ct);
        Assert.Equal(0, fetched.Code);
        Assert.Equal(content.Data, await File.ReadAllBytesAsync(Path.Combine(restored.Path, name), Ct));

        // The next session stores it whole again and deletes the pieces.
        await using (var serve = new ServeProcess(settings))
        {
            await Wait.UntilAsync(async () =>
            {
                var c = await ChainAsync(data, clusterId);
                return c.Wal.Any(w => !w.Partial && w.Segment == last.Segment) && !c.Wal.Any(w => w.Partial && w.Segment == last.Segment);
            }, Bounded, $"segment {name} to be stored whole from its pieces");
        }

        var after = await ChainAsync(data, clusterId);
        Assert.Equal(last.Key, after.Wal.Single(w => !w.Partial && w.Segment == last.Segment).Key); // same content, same SHA-256
        report = await ChainVerifier.VerifyAsync(store, after, null, Ct);
        Assert.True(report.Ok, string.Join("\n", report.Findings.Select(f => f.Message)));
    }

    [Fact]
    public async Task A_graceful_stop_stores_the_WAL_received_and_leaves_every_finished_segment_whole()
    {
        await using var pg = await PostgresCluster.StartAsync("graceful", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("graceful-data");
        var settings = Settings(clusterId, pg, data);
        // Flushes a minute apart: WAL received since the session started is durable only if the stop stores it.
        settings["PgVault:Engine:WalFlushInterval"] = "00:01:00";
        var store = new LocalObjectStore(Path.Combine(data.Path, "repository"));

        await using var serve = new ServeProcess(settings);
        await ChainStartsAsync(store, clusterId);
        // The chain's first base backup finishes before the stop: a stop during it leaves it incomplete by design (the
        // kill test's subject), and the chain verified below needs it.
        await Wait.UntilAsync(async () => (await ChainAsync(data, clusterId)).BaseBackups.Any(b => b.Complete), Bounded,
            "the chain's first base backup to complete");
        await Pg.PgbenchAsync(pg, "-i", "-s", "3", "-q");
        // A finished segment (its tail is flushed when it is sealed), then WAL the next flush, a minute away, would store.
        var switched = Lsn.Parse(await Pg.ScalarAsync<string>(pg, "SELECT pg_switch_wal()::text"));
        await WalReachesAsync(data, clusterId, switched);
        // WAL the server has sent but PgVault has not flushed yet. Background WAL (autovacuum after pgbench -i) can fill the
        // segment meanwhile, and sealing it flushes everything received: then the test tries again with newer WAL.
        Lsn target;
        for (var attempt = 1; ; attempt++)
        {
            await Pg.PgbenchAsync(pg, "-t", "50", "-n");
            target = await Pg.InsertLsnAsync(pg);
            // More WAL after it: once the server has sent that, PgVault has long received the WAL up to the target.
            await Pg.PgbenchAsync(pg, "-t", "20", "-n");
            var sent = await Pg.InsertLsnAsync(pg);
            await Wait.UntilAsync(async () =>
                Lsn.Parse(await Pg.ScalarAsync<string>(pg, "SELECT coalesce(max(sent_lsn), '0/0')::text FROM pg_stat_replication")) >= sent,
                Bounded, $"the server to send the WAL up to {sent}");
            var before = await ChainAsync(data, clusterId);
            if (before.DurableEnd < target)
                break;
            Assert.True(attempt < 5,
                $"the test needs WAL not yet durable at the stop (durable up to {before.DurableEnd}, received {target}, {attempt} tries)");
        }

        Assert.Equal(0, await serve.StopAsync(TimeSpan.FromSeconds(60)));

        var chain = await ChainAsync(data, clusterId);
        Assert.True(chain.DurableEnd >= target,
            $"durable WAL ends at {chain.DurableEnd}, before {target}, which PgVault had received; serve wrote:\n{serve.Output}");
        var head = WalSegment.Number(chain.DurableEnd);
        Assert.True(chain.Wal.Where(w => w.Partial).All(w => w.Segment == head),   // finished segments are whole
            $"pieces of finished segments are left: {string.Join(", ", chain.Wal.Where(w => w.Partial && w.Segment != head).Select(w => w.Key))} (head {head}, durable end {chain.DurableEnd}); serve wrote:\n{serve.Output}");
        Assert.Contains(chain.Wal, w => !w.Partial && w.Segment == WalSegment.Number(switched + -1));
        var report = await ChainVerifier.VerifyAsync(store, chain, null, Ct);
        Assert.True(report.Ok, string.Join("\n", report.Findings.Select(f => f.Message)));
    }

    [Fact]
    public async Task A_promoted_standby_continues_the_chain_on_its_new_timeline()
    {
        await using var primary = await PostgresCluster.StartAsync("primary", ct: Ct);
        await Pg.PgbenchAsync(primary, "-i", "-s", "2", "-q");
        await using var standby = await PostgresCluster.StartStandbyAsync("standby", primary, Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("standby-data");
        var settings = Settings(clusterId, standby, data);
        var catalog = Catalog(data);

        await using (var serve = new ServeProcess(settings))
        {
            await Wait.UntilAsync(async () => File.Exists(Path.Combine(data.Path, "catalog.db"))
                                              && (await TryActiveAsync(catalog, clusterId))?.State == BackupState.Available,
                Bounded, "the first base backup (taken from the standby)");
            await Pg.PgbenchAsync(primary, "-c", "2", "-t", "200", "-n");
            var primaryFlush = await Pg.FlushLsnAsync(primary);
            await Wait.UntilAsync(async () => Lsn.Parse(await Pg.ScalarAsync<string>(standby, "SELECT pg_last_wal_replay_lsn()::text")) >= primaryFlush,
                Bounded, "the standby to replay the primary's WAL");
            var before = (await catalog.GetActiveBackupAsync(clusterId, Ct))!;

            var (code, output) = await standby.RunPgRawAsync("pg_ctl", ["promote", "-w", "-D", standby.DataDirectory], Ct);
            Assert.True(code == 0, output);
            await Pg.PgbenchAsync(standby, "-c", "2", "-t", "300", "-n");
            var newFlush = await Pg.FlushLsnAsync(standby);
            await Wait.UntilAsync(async () => (await catalog.GetActiveBackupAsync(clusterId, Ct)) is { Timeline: 2 } b && b.EndLsn >= newFlush.Value,
                Bounded, $"the chain to follow timeline 2 up to {newFlush}");

            var after = (await catalog.GetActiveBackupAsync(clusterId, Ct))!;
            Assert.Equal(before.Id, after.Id); // the same backup: the new timeline's history passes through its end
            Assert.True(after.IsActive);
        }

        var chain = await ChainAsync(data, clusterId);
        Assert.Contains(chain.HistoryKeys, k => k.EndsWith("00000002.history", StringComparison.Ordinal));
        Assert.Contains(chain.Wal, w => w.Timeline == 2);
        var report = await ChainVerifier.VerifyAsync(new LocalObjectStore(Path.Combine(data.Path, "repository")), chain, null, Ct);
        Assert.True(report.Ok, string.Join("\n", report.Findings.Select(f => f.Message)));
    }

    [Fact]
    public async Task A_slot_the_server_invalidated_starts_a_new_backup_and_leaves_the_old_one_degraded()
    {
        // A bounded slot: two segments of WAL kept for PgVault at most.
        await using var pg = await PostgresCluster.StartAsync("slotlost", "max_slot_wal_keep_size = 32MB\nmin_wal_size = 32MB\nmax_wal_size = 64MB", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("slotlost-data");
        var settings = Settings(clusterId, pg, data);
        var catalog = Catalog(data);

        BackupRecord old;
        await using (var serve = new ServeProcess(settings))
        {
            await Wait.UntilAsync(async () => File.Exists(Path.Combine(data.Path, "catalog.db"))
                                              && (await TryActiveAsync(catalog, clusterId))?.State == BackupState.Available,
                Bounded, "the first base backup");
            old = (await catalog.GetActiveBackupAsync(clusterId, Ct))!;
            Assert.Equal(0, await serve.StopAsync(TimeSpan.FromSeconds(60)));
        }

        // PgVault is down: WAL past the bound, and checkpoints, until the server invalidates the slot.
        await pg.ExecuteAsync("CREATE TABLE filler (x int)", ct: Ct);
        await Wait.UntilAsync(async () =>
        {
            await pg.ExecuteAsync("INSERT INTO filler SELECT generate_series(1, 100000); SELECT pg_switch_wal(); CHECKPOINT", ct: Ct);
            return await Pg.ScalarAsync<string>(pg, "SELECT coalesce(string_agg(wal_status, ','), 'none') FROM pg_replication_slots") == "lost";
        }, Bounded, "the server to invalidate PgVault's slot (wal_status = lost)");

        await using (var serve = new ServeProcess(settings))
        {
            await Wait.UntilAsync(async () => await TryActiveAsync(catalog, clusterId) is { } b && b.Id != old.Id && b.State == BackupState.Available,
                Bounded, "a new backup with its own base backup");
            var before = await catalog.GetBackupAsync(old.Id, Ct);
            Assert.NotNull(before);
            Assert.False(before.IsActive);
            Assert.Equal(BackupState.Degraded, before.State); // never shown as a continuous chain
            Assert.Contains(serve.Output.Split('\n'), l => l.Contains("is lost", StringComparison.Ordinal)
                                                           && l.Contains("DEGRADED", StringComparison.Ordinal) && l.Contains(old.Id, StringComparison.Ordinal));
            Assert.NotEqual("lost", await Pg.ScalarAsync<string>(pg, "SELECT string_agg(wal_status, ',') FROM pg_replication_slots"));
        }
    }

    /// <summary>
    /// The other way the server loses WAL PgVault had not stored: no invalidated slot to find, but START_REPLICATION itself
    /// refused with SQLSTATE 58P01 ("requested WAL segment … has already been removed"). Here the slot was dropped while
    /// PgVault was down (as an operator cleaning up might) and checkpoints removed the segment the backup's WAL ends in;
    /// PgVault creates the slot again, asks for that segment, and must handle the refusal as a lost slot.
    /// </summary>
    [Fact]
    public async Task A_refused_START_REPLICATION_for_a_removed_segment_starts_a_new_backup_and_leaves_the_old_one_degraded()
    {
        await using var pg = await PostgresCluster.StartAsync("walremoved", "min_wal_size = 32MB\nmax_wal_size = 64MB", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("walremoved-data");
        var settings = Settings(clusterId, pg, data);
        var catalog = Catalog(data);

        BackupRecord old;
        await using (var serve = new ServeProcess(settings))
        {
            await Wait.UntilAsync(async () => File.Exists(Path.Combine(data.Path, "catalog.db"))
                                              && (await TryActiveAsync(catalog, clusterId))?.State == BackupState.Available,
                Bounded, "the first base backup");
            old = (await catalog.GetActiveBackupAsync(clusterId, Ct))!;
            Assert.Equal(0, await serve.StopAsync(TimeSpan.FromSeconds(60)));
        }

        // PgVault is down; its slot is dropped, so nothing keeps the WAL after the backup's end on the server.
        old = (await catalog.GetBackupAsync(old.Id, Ct))!;
        var resumeSegment = WalSegment.Name(1, WalSegment.Number(new Lsn(old.EndLsn!.Value)));
        await pg.ExecuteAsync("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLE filler (x int)", ct: Ct);
        await Wait.UntilAsync(async () =>
        {
            await pg.ExecuteAsync("INSERT INTO filler SELECT generate_series(1, 100000); SELECT pg_switch_wal(); CHECKPOINT", ct: Ct);
            return await Pg.ScalarAsync<long>(pg, $"SELECT count(*) FROM pg_ls_waldir() WHERE name = '{resumeSegment}'") == 0;
        }, Bounded, $"the server to remove WAL segment {resumeSegment}");

        await using (var serve = new ServeProcess(settings))
        {
            await Wait.UntilAsync(async () => await TryActiveAsync(catalog, clusterId) is { } b && b.Id != old.Id && b.State == BackupState.Available,
                Bounded, "a new backup with its own base backup");
            var current = (await catalog.GetActiveBackupAsync(clusterId, Ct))!;
            var before = await catalog.GetBackupAsync(old.Id, Ct);
            Assert.NotNull(before);
            Assert.False(before.IsActive);
            Assert.Equal(BackupState.Degraded, before.State); // never shown as a continuous chain
            var lines = serve.Output.Split('\n');
            Assert.Contains(lines, l => l.Contains($"requested WAL segment {resumeSegment} has already been removed", StringComparison.Ordinal)
                                        && l.Contains("is lost", StringComparison.Ordinal) && l.Contains("DEGRADED", StringComparison.Ordinal)
                                        && l.Contains(old.Id, StringComparison.Ordinal) && l.Contains(current.Id, StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.Contains("wal_status = lost", StringComparison.Ordinal)); // not the invalidated-slot path

            // The new backup streams: WAL written now reaches it.
            var insert = await Pg.InsertLsnAsync(pg);
            await Wait.UntilAsync(async () => (await catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= insert.Value, Bounded,
                $"the new backup's WAL to reach {insert}");
        }
    }

    private static async Task<BackupRecord?> TryActiveAsync(ICatalog catalog, string clusterId)
    {
        try
        {
            return await catalog.GetActiveBackupAsync(clusterId, Ct);
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return null; // the serving process has not created the schema yet
        }
    }
}
