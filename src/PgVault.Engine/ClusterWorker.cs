using Microsoft.Extensions.Logging;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.BaseBackup;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Wal;
using PgVault.Errors;
using PgVault.Fleet;
using PgVault.Storage;

namespace PgVault.Engine;

/// <summary>
/// Everything PgVault does for one cluster while it runs: streams its WAL, takes a base backup when the active chain has
/// none, on the cluster's cron schedule, and on demand. One base backup at a time.
/// </summary>
public sealed class ClusterWorker
{
    private readonly ICatalog _catalog;
    private readonly EngineOptions _engine;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _baseBackupGate = new(1, 1);
    private readonly BaseBackupSchedule _schedule;
    private readonly SemaphoreSlim _stopped = new(0);
    private Task? _lastBaseBackup;
    private TaskCompletionSource? _pause;
    private CancellationTokenSource? _run;

    /// <param name="cluster">The cluster.</param>
    /// <param name="store">Its location's store.</param>
    /// <param name="catalog">The catalog.</param>
    /// <param name="engine">Engine options.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">The cluster's logger.</param>
    /// <param name="fence">In a fleet, the lease this worker runs under: nothing is committed once it is lost. Default none.</param>
    public ClusterWorker(ClusterOptions cluster, IObjectStore store, ICatalog catalog, EngineOptions engine, TimeProvider time, ILogger logger,
        IClusterFence? fence = null)
    {
        _catalog = catalog;
        _engine = engine;
        _time = time;
        _logger = logger;
        Chain = new ClusterChain(cluster, store, catalog, engine, time, logger) { Fence = fence ?? ClusterFence.None };
        Streamer = new WalStreamer(Chain, engine, time, logger);
        _schedule = BaseBackupSchedule.For(cluster);
        Chain.ChainStarted += OnChainStarted;
    }

    /// <summary>A new chain (re-initialised cluster, restore, new major) needs its first base backup now, not at the next cron time.</summary>
    private void OnChainStarted(object? sender, ChainStartedEventArgs e)
    {
        if (Volatile.Read(ref _run) is not { } run || Paused)
            return; // the next run starts one (it finds no complete base backup)
        try
        {
            TryStartBaseBackup($"backup {e.Backup.Id} has just started and has no base backup", null, null, _schedule.DefaultType, run.Token);
        }
        catch (Exception ex) when (ex is PgVaultException or ObjectDisposedException)
        {
            _logger.LogWarning("cluster {Cluster}: could not start the new backup's first base backup: {Error}", Cluster.Id, ex.Message);
        }
    }

    public ClusterChain Chain { get; }

    /// <summary>Whether this instance may still commit for the cluster (see <see cref="ClusterChain.Fence"/>).</summary>
    public IClusterFence Fence => Chain.Fence;

    public WalStreamer Streamer { get; }

    public ClusterOptions Cluster => Chain.Cluster;

    /// <summary>True while a base backup runs.</summary>
    public bool BaseBackupRunning => _baseBackupGate.CurrentCount == 0;

    /// <summary>True while <see cref="PauseAsync"/> holds the worker stopped (an in-place restore).</summary>
    public bool Paused => Volatile.Read(ref _pause) is not null;

    /// <summary>
    /// Streams WAL and runs scheduled base backups until cancelled. While paused (<see cref="PauseAsync"/>) the worker
    /// holds no connection to the cluster and waits to be resumed.
    /// </summary>
    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            if (Volatile.Read(ref _pause) is { } pause)
            {
                await pause.Task.WaitAsync(ct).ConfigureAwait(false);
                continue;
            }

            using var run = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Volatile.Write(ref _run, run);
            try
            {
                // A pause that came in before the run was published must stop it too.
                if (Volatile.Read(ref _pause) is not null)
                    continue;
                await RunOnceAsync(run.Token).ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref _run, null);
                _stopped.Release();
            }

            if (Volatile.Read(ref _pause) is null)
                return;
        }
    }

    /// <summary>
    /// Stops streaming and base backups (waiting for a running base backup to end) and keeps the worker stopped until
    /// the returned handle is disposed. Refused while a base backup runs or another pause holds the worker.
    /// </summary>
    public async Task<IAsyncDisposable> PauseAsync(TimeSpan timeout, CancellationToken ct)
    {
        if (BaseBackupRunning)
            throw new PgVaultException(ErrorCode.Conflict, $"a base backup of cluster '{Cluster.Id}' is running", "retry when it has finished");
        var pause = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _pause, pause, null) is not null)
            throw new PgVaultException(ErrorCode.Conflict, $"cluster '{Cluster.Id}' is already paused for a restore");
        while (_stopped.CurrentCount > 0)
            await _stopped.WaitAsync(ct).ConfigureAwait(false); // forget earlier run endings
        if (Volatile.Read(ref _run) is { } run)
        {
            await run.CancelAsync().ConfigureAwait(false);
            if (!await _stopped.WaitAsync(timeout, ct).ConfigureAwait(false))
            {
                Resume(pause);
                throw new PgVaultException(ErrorCode.Unavailable, $"the backup worker of cluster '{Cluster.Id}' did not stop within {timeout.TotalSeconds:0} s");
            }
        }

        await Chain.SetStreamingAsync(false, ct, reason: "WAL streaming paused for a restore of the cluster").ConfigureAwait(false);
        return new PauseHandle(this, pause);
    }

    private void Resume(TaskCompletionSource pause)
    {
        if (Interlocked.CompareExchange(ref _pause, null, pause) == pause)
            pause.TrySetResult();
    }

    private sealed class PauseHandle(ClusterWorker worker, TaskCompletionSource pause) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            worker.Resume(pause);
            return ValueTask.CompletedTask;
        }
    }

    private async Task RunOnceAsync(CancellationToken ct)
    {
        // Streaming never outlives this method: a failure here stops it, so a restarted worker is the only reader.
        using var stopStreaming = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var streaming = Streamer.RunAsync(stopStreaming.Token);
        // The catalog row: saved every second (sooner when time alone changes the state, e.g. an interruption outlasting
        // the lag threshold), at once on a state change, and last after streaming has stopped.
        using var stopSaving = new CancellationTokenSource();
        var saving = new CatalogSaver(Chain, _time, _logger, SaveInterval).RunAsync(stopSaving.Token);
        try
        {
            // Wait (bounded only by cancellation) until streaming has chosen the active chain.
            while (Chain.Current is null && !streaming.IsCompleted)
                await Task.Delay(TimeSpan.FromMilliseconds(200), _time, ct).ConfigureAwait(false);

            await FailInterruptedAsync(ct).ConfigureAwait(false);
            var bases = await _catalog.ListBaseBackupsAsync(Chain.Current!.Id, ct).ConfigureAwait(false);
            if (!bases.Any(b => b.State == BaseBackupState.Complete))
                TryStartBaseBackup("the backup has no complete base backup", null, null, _schedule.DefaultType, ct);

            while (!ct.IsCancellationRequested)
            {
                var now = _time.GetUtcNow();
                if (_schedule.Next(now) is not { } next)
                    break;
                await Task.Delay(next.At - now, _time, ct).ConfigureAwait(false);
                TryStartBaseBackup($"scheduled ({next.Description})", null, null, next.Type, ct);
            }

            await streaming.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            await stopStreaming.CancelAsync().ConfigureAwait(false);
            await streaming.ConfigureAwait(false); // RunAsync ends quietly when cancelled
            await stopSaving.CancelAsync().ConfigureAwait(false);
            await saving.ConfigureAwait(false); // saves the last state
            await WaitForBaseBackupAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// How often the catalog row is saved: every second, or a quarter of the lag threshold when that is shorter (time
    /// alone, an interruption outlasting the threshold, changes the state the API shows).
    /// </summary>
    private TimeSpan SaveInterval =>
        TimeSpan.FromTicks(Math.Clamp(_engine.WalLagThreshold.Ticks / 4, TimeSpan.FromMilliseconds(250).Ticks, CatalogSaver.MaxInterval.Ticks));

    /// <summary>
    /// Starts a base backup (of the schedule's <see cref="BaseBackupSchedule.DefaultType"/>) in the background; false when
    /// one is already running.
    /// </summary>
    public bool TryStartBaseBackup(string reason, IProgress<BaseBackupProgress>? progress = null, CancellationToken ct = default) =>
        TryStartBaseBackup(reason, progress, null, _schedule.DefaultType, ct);

    /// <summary>
    /// Starts a base backup of <paramref name="type"/> (null: the schedule's <see cref="BaseBackupSchedule.DefaultType"/>)
    /// in the background (running until <paramref name="stopping"/>) and returns it as soon as it is recorded RUNNING, so a
    /// reader can follow it by its label; null when one is already running.
    /// </summary>
    public async Task<BaseBackupRecord?> StartBaseBackupAsync(string reason, BaseBackupType? type, CancellationToken stopping, CancellationToken ct)
    {
        var started = new TaskCompletionSource<BaseBackupRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!TryStartBaseBackup(reason, null, started, type ?? _schedule.DefaultType, stopping))
            return null;
        return await started.Task.WaitAsync(ct).ConfigureAwait(false);
    }

    private bool TryStartBaseBackup(string reason, IProgress<BaseBackupProgress>? progress, TaskCompletionSource<BaseBackupRecord>? started,
        BaseBackupType? type, CancellationToken ct)
    {
        if (Paused)
            throw new PgVaultException(ErrorCode.Conflict, $"cluster '{Cluster.Id}' is being restored", "retry when the restore has finished");
        if (!_baseBackupGate.Wait(0, CancellationToken.None))
            return false;
        if (Chain.Current is null)
        {
            _baseBackupGate.Release();
            throw new PgVaultException(ErrorCode.Unavailable, $"cluster '{Cluster.Id}' has no active backup yet: WAL streaming has not connected",
                "check the cluster's ConnectionString and that it accepts replication connections; the log says why streaming fails");
        }

        _logger.LogInformation("cluster {Cluster}: starting a {Type} base backup: {Reason}", Cluster.Id, type?.Name() ?? "full", reason);
        _lastBaseBackup = Task.Run(async () =>
        {
            try
            {
                await new BaseBackupRunner(Chain, _catalog, _engine, _time, _logger) { Started = r => started?.TrySetResult(r) }
                    .RunAsync(progress, ct, type).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                started?.TrySetException(ex);
                // Recorded as FAILED in the catalog by the runner; the loop goes on.
                _logger.LogDebug(ex, "cluster {Cluster}: base backup failed", Cluster.Id);
            }
            finally
            {
                started?.TrySetCanceled(CancellationToken.None);
                _baseBackupGate.Release();
            }
        }, CancellationToken.None);
        return true;
    }

    /// <summary>Runs <paramref name="action"/> (expiry) while no base backup runs; none starts until it ends.</summary>
    public async Task RunExclusiveAsync(Func<CancellationToken, Task> action, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(action);
        await _baseBackupGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await action(ct).ConfigureAwait(false);
        }
        finally
        {
            _baseBackupGate.Release();
        }
    }

    /// <summary>Waits for the base backup started last (if any) to end.</summary>
    public async Task WaitForBaseBackupAsync()
    {
        if (_lastBaseBackup is { } task)
            await task.ConfigureAwait(false);
    }

    /// <summary>
    /// A base backup still RUNNING in the catalog when the worker starts (or, in <c>pgvault backup</c>, once the replication
    /// slot was found free: no other process backs the cluster up) was interrupted: it never completes. Its objects stay
    /// without a completion marker, so nothing uses them (restore, a later incremental, info), and expiry removes them.
    /// </summary>
    public async Task FailInterruptedAsync(CancellationToken ct)
    {
        foreach (var b in await _catalog.ListBaseBackupsAsync(Chain.Current!.Id, ct).ConfigureAwait(false))
        {
            if (b.State != BaseBackupState.Running || BaseBackupRunning)
                continue;
            await _catalog.SaveBaseBackupAsync(b with { State = BaseBackupState.Failed, Error = "interrupted (pgvault stopped while it ran)" }, ct)
                .ConfigureAwait(false);
            _logger.LogWarning("cluster {Cluster}: base backup {Label} was interrupted; it is marked failed", Cluster.Id, b.Label);
        }

        await Chain.RefreshAsync(ct).ConfigureAwait(false);
    }
}
