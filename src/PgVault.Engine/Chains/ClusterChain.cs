using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Engine.Repository;
using PgVault.Engine.Wal;
using PgVault.Fleet;

namespace PgVault.Engine.Chains;

/// <summary>
/// The active chain of one cluster: decides when a new chain starts, tracks its WAL and base backups, and keeps the
/// catalog row (state, size, recovery window) current. Shared by the WAL streamer and the base backup runner; every
/// catalog update goes through one gate.
/// </summary>
public sealed class ClusterChain
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ICatalog _catalog;
    private readonly IObjectStore _store;
    private readonly EngineOptions _engine;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private BackupRecord? _current;
    private BackupRecord? _saved;
    private long _walBytes;
    private bool _streaming;
    private readonly Lock _interruptionLock = new();
    private DateTimeOffset? _interruptedSince;
    private string? _postgresMajor;
    private IReadOnlyList<BaseBackupRecord> _baseBackups = [];
    // What this process last wrote of the cluster's history (catalog cluster_periods): null until it wrote anything, as
    // a period may have been left open by an earlier process.
    private bool? _interruptionOpen;
    private BackupState? _recordedState;

    public ClusterChain(ClusterOptions cluster, IObjectStore store, ICatalog catalog, EngineOptions engine, TimeProvider time, ILogger logger)
    {
        Cluster = cluster;
        _store = store;
        _catalog = catalog;
        _engine = engine;
        _time = time;
        _logger = logger;
        _interruptedSince = time.GetUtcNow(); // not streaming until the first connection
    }

    public ClusterOptions Cluster { get; }

    /// <summary>
    /// Whether this instance may still commit for the cluster (in a fleet, the lease the worker runs under). A new
    /// chain is written only while it holds, and the catalog row is not saved once it is lost. Default: no fence.
    /// </summary>
    public IClusterFence Fence { get; init; } = ClusterFence.None;

    /// <summary>Raised (under no lock) when a new chain has become the active one; it has no base backup yet.</summary>
    public event EventHandler<ChainStartedEventArgs>? ChainStarted;

    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Completes the next time <see cref="Current"/> changes (a chain is chosen, WAL becomes durable): for a caller
    /// waiting for a condition on it, instead of polling. Take it before checking the condition.
    /// </summary>
    public Task Changed => Volatile.Read(ref _changed).Task;

    private void Pulse() =>
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public IObjectStore Store => _store;

    /// <summary>The active chain's catalog row, or null before the first connection.</summary>
    public BackupRecord? Current => Volatile.Read(ref _current);

    /// <summary>The active chain's base backups as of the last <see cref="RefreshAsync"/> (metrics read them).</summary>
    public IReadOnlyList<BaseBackupRecord> BaseBackups => Volatile.Read(ref _baseBackups);

    /// <summary>True while WAL streaming is connected.</summary>
    public bool Streaming => Volatile.Read(ref _streaming);

    /// <summary>When streaming was last interrupted; null while streaming.</summary>
    public DateTimeOffset? InterruptedSince
    {
        get
        {
            lock (_interruptionLock)
                return _interruptedSince;
        }
    }

    /// <summary>The chain id part of the current backup id.</summary>
    public string? ChainId => Current is { } c ? ChainIdOf(c) : null;

    public static string ChainIdOf(BackupRecord backup)
    {
        ArgumentNullException.ThrowIfNull(backup);
        return BackupId.Parse(backup.Id).ChainId;
    }

    /// <summary>
    /// Chooses the chain to stream into for a server that identifies as <paramref name="systemIdentifier"/>, starting a new one when
    /// the system identifier changed or the server's timeline history does not pass through the active chain's end.
    /// Returns where streaming resumes (always a segment start) and on which timeline.
    /// </summary>
    public async Task<(Lsn Start, uint Timeline)> EnsureChainAsync(string systemIdentifier, uint serverTimeline, Lsn serverFlush,
        string postgresMajor, Func<uint, Task<string>> fetchHistory, CancellationToken ct, string? walLost = null)
    {
        ArgumentNullException.ThrowIfNull(fetchHistory);
        _postgresMajor = postgresMajor;
        BackupRecord? started = null;
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var active = _current ?? await _catalog.GetActiveBackupAsync(Cluster.Id, ct).ConfigureAwait(false);
            if (active is not null && _current is null)
            {
                // Resuming a chain: the format gate first (a chain a newer PgVault wrote is not streamed into).
                await Repository(active).ReadChainAsync(ct).ConfigureAwait(false);
                _walBytes = await Repository(active).WalStoredBytesAsync(ct).ConfigureAwait(false);
            }

            string? reason = null;
            var lost = false;
            if (active is null)
                reason = "the cluster has no backup yet";
            else if (!string.Equals(active.SystemIdentifier, systemIdentifier, StringComparison.Ordinal))
                reason = $"the system identifier changed from {active.SystemIdentifier} to {systemIdentifier} (re-initialised cluster)";
            else if (!string.Equals(active.Version, postgresMajor, StringComparison.Ordinal))
                reason = $"the PostgreSQL major version changed from {active.Version} to {postgresMajor}";
            else if (walLost is not null)
            {
                reason = $"WAL after the end of backup {active.Id} is lost ({walLost})";
                lost = true;
            }

            if (reason is null)
            {
                var chainTimeline = (uint)active!.Timeline!.Value;
                var end = new Lsn(active.EndLsn ?? active.StartLsn ?? 0);
                if (chainTimeline == serverTimeline)
                    return Resume(active, end, chainTimeline);

                var historyText = await fetchHistory(serverTimeline).ConfigureAwait(false);
                var history = TimelineHistory.Parse(historyText);
                if (TimelineHistory.PassesThrough(history, chainTimeline, end)
                    && !await HoldsWalPastAsync(active, chainTimeline, history.First(h => h.Timeline == chainTimeline).SwitchPoint, end, ct).ConfigureAwait(false))
                {
                    await WriteHistoryAsync(active, serverTimeline, historyText, ct).ConfigureAwait(false);
                    var switchPoint = history.First(h => h.Timeline == chainTimeline).SwitchPoint;
                    if (end < switchPoint)
                        return Resume(active, end, chainTimeline); // the server streams the rest of the old timeline first
                    var next = TimelineHistory.Next(history, chainTimeline, serverTimeline);
                    if (next != serverTimeline)
                        await WriteHistoryAsync(active, next, await fetchHistory(next).ConfigureAwait(false), ct).ConfigureAwait(false);
                    _logger.LogInformation("cluster {Cluster}: backup {Backup} follows the switch from timeline {Old} to {New} at {Lsn}",
                        Cluster.Id, active.Id, chainTimeline, next, switchPoint);
                    var moved = active with { Timeline = (int)next };
                    await _catalog.SaveBackupsAsync([moved], ct).ConfigureAwait(false);
                    return Resume(moved, end, next);
                }

                var ended = history.FirstOrDefault(h => h.Timeline == chainTimeline);
                reason = $"timeline {serverTimeline}'s history does not pass through the end of backup {active.Id} ({end} on timeline {chainTimeline}; " +
                         (ended.Timeline == chainTimeline ? $"timeline {chainTimeline} ended at {ended.SwitchPoint})" : $"timeline {chainTimeline} is not in it)");
            }

            var result = await StartChainAsync(active, systemIdentifier, serverTimeline, serverFlush, postgresMajor, reason, fetchHistory, ct, lost)
                .ConfigureAwait(false);
            if (lost)
            {
                // Never pretend the chain is continuous: the old backup ends where its durable WAL ends, DEGRADED.
                _logger.LogError(
                    "cluster {Cluster}: WAL between LSN {LostFrom} and {LostTo} is lost ({Cause}): backup {Old} ends there and is DEGRADED, " +
                    "backup {New} starts with a new base backup; HINT: no restore can reach a point between them; keep 'pgvault serve' " +
                    "running, or raise max_slot_wal_keep_size (docs/OPERATIONS.md, Replication slot and disk space)",
                    Cluster.Id, new Lsn(active!.EndLsn ?? active.StartLsn ?? 0), result.Item1, walLost, active.Id, _current!.Id);
            }

            started = _current;
            return result;
        }
        finally
        {
            _gate.Release();
            if (started is not null)
                ChainStarted?.Invoke(this, new ChainStartedEventArgs(started));
        }
    }

    /// <summary>
    /// Whether the chain holds a whole WAL record after <paramref name="switchPoint"/> (where the server's timeline left
    /// the chain's), i.e. WAL the server's timeline does not have: the chain has diverged. What a standby streams past its
    /// last record (zeros, or the start of a record it never received whole) is not a record, and no restore can use it.
    /// </summary>
    private async Task<bool> HoldsWalPastAsync(BackupRecord active, uint timeline, Lsn switchPoint, Lsn end, CancellationToken ct)
    {
        const ulong recordHeaderBytes = 24; // SizeOfXLogRecord
        var recordStart = (switchPoint.Value + 7) & ~7UL; // records are MAXALIGNed
        if (recordStart + recordHeaderBytes > end.Value)
            return false;
        var number = WalSegment.Number(new Lsn(recordStart));
        var stored = await Repository(active).ReadWalSegmentAsync(timeline, number, ct).ConfigureAwait(false);
        if (stored is null)
            return false;
        var offset = (long)(recordStart - WalSegment.Start(number).Value);
        if (offset + 4 > stored.Value.Covered)
            return false;
        var totalLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(stored.Value.Data.AsSpan((int)offset, 4));
        return totalLength >= recordHeaderBytes && recordStart + totalLength <= end.Value && offset + totalLength <= stored.Value.Covered;
    }

    private (Lsn, uint) Resume(BackupRecord active, Lsn end, uint timeline)
    {
        Volatile.Write(ref _current, active);
        Pulse();
        var start = WalSegment.Start(WalSegment.Number(end));
        return (start, timeline);
    }

    private async Task<(Lsn, uint)> StartChainAsync(BackupRecord? previous, string systemIdentifier, uint timeline, Lsn serverFlush,
        string major, string reason, Func<uint, Task<string>> fetchHistory, CancellationToken ct, bool previousLostWal = false)
    {
        var chainId = NewChainId();
        var start = WalSegment.Start(WalSegment.Number(serverFlush));
        var now = _time.GetUtcNow();
        var backup = new BackupRecord
        {
            Id = new BackupId(Cluster.Id, chainId, major).Format(),
            ClusterId = Cluster.Id,
            CreatedDate = now,
            State = BackupState.Busy,
            Version = major,
            IsActive = true,
            Location = Cluster.BackupLocation,
            SystemIdentifier = systemIdentifier,
            Timeline = (int)timeline,
            StartLsn = start.Value,
            EndLsn = start.Value,
        };
        var metadata = new ChainMetadata
        {
            BackupId = backup.Id,
            ClusterId = Cluster.Id,
            ChainId = chainId,
            SystemIdentifier = systemIdentifier,
            Timeline = timeline,
            StartLsn = start.ToString(),
            CreatedAt = now,
            PostgresMajor = major,
            Location = Cluster.BackupLocation,
        };
        // The repository first (source of truth), then the catalog; only while this instance holds the cluster.
        await Fence.EnsureHeldAsync(ct).ConfigureAwait(false);
        Interlocked.Exchange(ref _walBytes, 0);
        await new ChainRepository(_store, Cluster.Id, chainId).WriteChainAsync(metadata, ct).ConfigureAwait(false);
        if (timeline > 1)
            await WriteHistoryAsync(backup, timeline, await fetchHistory(timeline).ConfigureAwait(false), ct).ConfigureAwait(false);
        var rows = new List<BackupRecord> { backup };
        if (previous is not null)
            rows.Add(previousLostWal ? previous with { IsActive = false, State = BackupState.Degraded } : previous with { IsActive = false });
        await _catalog.SaveBackupsAsync(rows, ct).ConfigureAwait(false);
        _logger.LogInformation("cluster {Cluster}: started backup {Backup} at {Lsn} on timeline {Timeline}: {Reason}",
            Cluster.Id, backup.Id, start, timeline, reason);
        if (previous is not null)
        {
            // The previous backup's WAL ended when streaming into it stopped (as this process saw it; else now).
            var ended = InterruptedSince ?? now;
            await RecordAsync(() => _catalog.OpenClusterPeriodAsync(new ClusterPeriodRecord
            {
                ClusterId = Cluster.Id, BackupId = previous.Id, Kind = ClusterPeriodRecord.Ended, Start = ended, End = ended,
                Reason = $"backup {backup.Id} replaced it: {reason}",
            }, PruneBefore, ct), ct).ConfigureAwait(false);
        }

        Volatile.Write(ref _current, backup);
        Pulse();
        return (start, timeline);
    }

    private async Task WriteHistoryAsync(BackupRecord chain, uint timeline, string content, CancellationToken ct) =>
        Interlocked.Add(ref _walBytes, await Repository(chain).WriteHistoryAsync(timeline, content, ct).ConfigureAwait(false));

    /// <summary>The repository of a chain of this cluster.</summary>
    private ChainRepository Repository(BackupRecord chain) => new(_store, Cluster.Id, ChainIdOf(chain));

    private static string NewChainId()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
        Span<byte> bytes = stackalloc byte[8];
        RandomNumberGenerator.Fill(bytes);
        Span<char> chars = stackalloc char[8];
        for (var i = 0; i < 8; i++)
            chars[i] = alphabet[bytes[i] % alphabet.Length];
        return new string(chars);
    }

    /// <summary>
    /// Records WAL made durable up to <paramref name="end"/> (and <paramref name="storedBytesDelta"/> bytes more in the
    /// repository), in memory only: the catalog row is saved by <see cref="CatalogSaver"/> (within a second, at once when
    /// this changes the backup's state), so a WAL flush never waits for the catalog.
    /// </summary>
    public async Task OnWalDurableAsync(Lsn end, uint timeline, long storedBytesDelta, CancellationToken ct)
    {
        Interlocked.Add(ref _walBytes, storedBytesDelta);
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_current is null)
                return;
            if (end.Value > (_current.EndLsn ?? 0) || timeline != (uint)(_current.Timeline ?? 0))
            {
                _current = _current with { EndLsn = Math.Max(end.Value, _current.EndLsn ?? 0), Timeline = (int)timeline };
                Pulse();
                if (StateOf(_current).State != (_saved ?? _current).State)
                    RequestSave();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private TaskCompletionSource _saveRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the catalog row should be saved now (the backup's state changes); <see cref="CatalogSaver"/> waits for it.</summary>
    public Task SaveRequested => Volatile.Read(ref _saveRequested).Task;

    private void RequestSave() =>
        Interlocked.Exchange(ref _saveRequested, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>State and recovery window of <paramref name="current"/> with the base backups as last read.</summary>
    private (BackupState State, DateTimeOffset? Earliest) StateOf(BackupRecord current)
    {
        var interruptedSince = InterruptedSince;
        var wal = new WalStatus(current.EndLsn ?? 0, _streaming && interruptedSince is null, interruptedSince, current.StartLsn ?? 0);
        return ChainStateCalculator.Compute(Volatile.Read(ref _baseBackups), wal, _time.GetUtcNow(), _engine.WalLagThreshold);
    }

    /// <summary>
    /// Streaming connected or not (an interruption longer than the lag threshold makes the backup DEGRADED). Connecting
    /// does not end an interruption: only <see cref="OnStoringAsync"/> does, once WAL is stored again. A connection that
    /// receives WAL but cannot store it (the repository is down) is no better than none. <paramref name="since"/>: when
    /// the interruption began, if earlier than now (the oldest WAL received and never stored).
    /// </summary>
    public async Task SetStreamingAsync(bool streaming, CancellationToken ct, DateTimeOffset? since = null, string? reason = null)
    {
        if (_streaming == streaming)
        {
            if (!streaming)
                await RecordInterruptionAsync(reason, ct).ConfigureAwait(false); // the first connection failed
            await RefreshAsync(ct).ConfigureAwait(false); // time passes: an interruption may now be long enough to matter
            return;
        }

        lock (_interruptionLock)
        {
            Volatile.Write(ref _streaming, streaming);
            if (!streaming)
                _interruptedSince ??= since is { } s && s < _time.GetUtcNow() ? s : _time.GetUtcNow();
        }

        if (!streaming)
            await RecordInterruptionAsync(reason, ct).ConfigureAwait(false);

        // The cluster as GET /clusters shows it: reachable (AVAILABLE) or not (UNKNOWN), and its major version; an
        // instance that lost the cluster leaves the row to the new owner.
        if (!Fence.IsHeld)
            return;
        await _catalog.UpsertClusterAsync(new ClusterRecord
        {
            Id = Cluster.Id,
            DisplayName = Cluster.DisplayName ?? Cluster.Id,
            CreatedDate = _time.GetUtcNow(),
            State = streaming ? ClusterState.Available : ClusterState.Unknown,
            PostgresVersion = _postgresMajor,
            BackupLocation = Cluster.BackupLocation,
        }, ct).ConfigureAwait(false);
        await RefreshAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The streamer has stored everything it received (a flush went through, or nothing was waiting): an interruption
    /// is over. Cheap when there was none.
    /// </summary>
    public async Task OnStoringAsync(CancellationToken ct)
    {
        lock (_interruptionLock)
        {
            if (_interruptedSince is null || !_streaming)
                return;
            _interruptedSince = null;
        }

        if (_interruptionOpen != false)
        {
            await RecordAsync(async () =>
            {
                await _catalog.CloseClusterPeriodsAsync(Cluster.Id, ClusterPeriodRecord.Interrupted, _time.GetUtcNow(), ct).ConfigureAwait(false);
                _interruptionOpen = false;
            }, ct).ConfigureAwait(false);
        }

        await RefreshAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Opens the period of an interruption in the catalog's history of the cluster (once per interruption).</summary>
    private async Task RecordInterruptionAsync(string? reason, CancellationToken ct)
    {
        if (_interruptionOpen == true || InterruptedSince is not { } since)
            return;
        await RecordAsync(async () =>
        {
            await _catalog.OpenClusterPeriodAsync(new ClusterPeriodRecord
            {
                ClusterId = Cluster.Id,
                BackupId = Current?.Id,
                Kind = ClusterPeriodRecord.Interrupted,
                Start = since,
                Reason = string.IsNullOrWhiteSpace(reason) ? "WAL streaming interrupted" : reason,
            }, PruneBefore, ct).ConfigureAwait(false);
            _interruptionOpen = true;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Records a change of the active backup's state in the cluster's history: a DEGRADED or FAILED period begins, or the
    /// one open ends. Called under the gate, only when the state differs from the one last recorded.
    /// </summary>
    private async Task RecordStateAsync(BackupRecord backup, BackupState state, CancellationToken ct)
    {
        static string? KindOf(BackupState? s) => s switch
        {
            BackupState.Degraded => ClusterPeriodRecord.Degraded,
            BackupState.Failed => ClusterPeriodRecord.Failed,
            _ => null,
        };

        var now = _time.GetUtcNow();
        var kind = KindOf(state);
        await RecordAsync(async () =>
        {
            // Not known what an earlier process left open: both kinds are closed; else only the one that was open.
            string?[] opened = _recordedState is null ? [ClusterPeriodRecord.Degraded, ClusterPeriodRecord.Failed] : [KindOf(_recordedState)];
            foreach (var open in opened)
            {
                if (open is not null && open != kind)
                    await _catalog.CloseClusterPeriodsAsync(Cluster.Id, open, now, ct).ConfigureAwait(false);
            }

            if (kind is not null)
            {
                var failedBase = Volatile.Read(ref _baseBackups).OrderBy(b => b.StartedAt).LastOrDefault() is { State: BaseBackupState.Failed } f ? f : null;
                var reason = state == BackupState.Failed
                    ? "no base backup of the backup is restorable" + (failedBase is null ? "" : $": base backup {failedBase.Label} failed: {failedBase.Error}")
                    : InterruptedSince is { } since
                        ? $"WAL streaming interrupted since {since.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC, longer than {_engine.WalLagThreshold.TotalSeconds:0} s"
                        : failedBase is not null ? $"the last base backup, {failedBase.Label}, failed: {failedBase.Error}" : "DEGRADED";
                await _catalog.OpenClusterPeriodAsync(new ClusterPeriodRecord
                {
                    ClusterId = Cluster.Id, BackupId = backup.Id, Kind = kind, Start = now, Reason = reason,
                }, PruneBefore, ct).ConfigureAwait(false);
            }

            _recordedState = state;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>The cluster's history is kept for its retention window.</summary>
    private DateTimeOffset PruneBefore => _time.GetUtcNow() - TimeSpan.FromDays(Cluster.RetentionDays);

    /// <summary>
    /// Writes to the cluster's history, only while this instance holds the cluster. The history tells what happened; a
    /// failure to write it is logged and tried again at the next transition, and never stops the backup.
    /// </summary>
    private async Task RecordAsync(Func<Task> write, CancellationToken ct)
    {
        if (!Fence.IsHeld)
            return;
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            _logger.LogWarning("cluster {Cluster}: could not record the cluster's history: {Error}", Cluster.Id, ex.Message);
        }
    }

    /// <summary>
    /// Expiry deleted older base backups and WAL of backup <paramref name="backupId"/>: its WAL now starts at
    /// <paramref name="walStart"/> and <paramref name="walBytesRemoved"/> bytes of WAL are gone (the base backups' bytes are
    /// summed from the catalog). False when that is not the active chain (the caller updates the row itself).
    /// </summary>
    public async Task<bool> OnExpiredAsync(string backupId, Lsn? walStart, long walBytesRemoved, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_current is null || !string.Equals(_current.Id, backupId, StringComparison.Ordinal))
                return false;
            Interlocked.Add(ref _walBytes, -walBytesRemoved);
            if (walStart is { } s && s.Value > (_current.StartLsn ?? 0))
                _current = _current with { StartLsn = s.Value };
        }
        finally
        {
            _gate.Release();
        }

        await RefreshAsync(ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Recomputes state, size and recovery window of the active chain and saves its catalog row when it changed (called by
    /// <see cref="CatalogSaver"/> and on every change of streaming or base backups).
    /// </summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_current is null)
                return;
            var bases = await _catalog.ListBaseBackupsAsync(_current.Id, ct).ConfigureAwait(false);
            Volatile.Write(ref _baseBackups, bases);
            var (state, earliest) = StateOf(_current);
            var baseBytes = bases.Where(b => b.State == BaseBackupState.Complete).Sum(b => b.SizeBytes);
            if (state != _recordedState)
                await RecordStateAsync(_current, state, ct).ConfigureAwait(false);
            var updated = _current with
            {
                State = state,
                EarliestRecoveryTargetTime = earliest,
                SizeBytes = Interlocked.Read(ref _walBytes) + baseBytes,
            };
            // An instance that lost the cluster leaves the row to the new owner.
            if (updated != _saved && Fence.IsHeld)
            {
                await _catalog.SaveBackupsAsync([updated], ct).ConfigureAwait(false);
                _saved = updated;
            }

            _current = updated;
        }
        finally
        {
            _gate.Release();
        }
    }
}

/// <summary>The chain that has just become the active one.</summary>
public sealed class ChainStartedEventArgs(BackupRecord backup) : EventArgs
{
    public BackupRecord Backup { get; } = backup;
}
