using System.Diagnostics.Metrics;
using PgVault.Api.ReadModel;
using PgVault.Catalog;
using PgVault.Engine;
using PgVault.Engine.Telemetry;

namespace PgVault.Hosting;

/// <summary>
/// The observable gauges of <c>serve</c> (per cluster, and the API's read model): read from the current state at each scrape (no values
/// are pushed around, nothing is queried). A cluster whose worker has not chosen its chain yet has no series. docs/OPERATIONS.md
/// documents every series. The meter comes from the host's <see cref="IMeterFactory"/>, which disposes it.
/// </summary>
public sealed class EngineGauges
{
    private readonly Meter _meter;
    private readonly BackupEngine _engine;
    private readonly TimeProvider _time;

    public EngineGauges(IMeterFactory meters, BackupEngine engine, TimeProvider time, BackupReadModel readModel)
    {
        ArgumentNullException.ThrowIfNull(readModel);
        ArgumentNullException.ThrowIfNull(meters);
        _engine = engine;
        _time = time;
        _meter = meters.Create(PgVaultMetrics.MeterName);
        _meter.CreateObservableGauge("pgvault.base_backup.last_success_timestamp", () => Each(LastSuccess), "s",
            "Completion time (Unix seconds) of the newest complete base backup of the active backup");
        _meter.CreateObservableGauge("pgvault.base_backup.last_duration", () => Each(LastDuration), "s",
            "Duration of the newest complete base backup");
        _meter.CreateObservableGauge("pgvault.base_backup.last_throughput", () => Each(LastThroughput), "By/s",
            "Database bytes per second of the newest complete base backup");
        _meter.CreateObservableGauge("pgvault.wal.lag_bytes", () => Each(LagBytes), "By",
            "WAL bytes the server has written but the repository does not hold durably yet (as last reported by the server)");
        _meter.CreateObservableGauge("pgvault.wal.lag_seconds", () => Each(LagSeconds), "s",
            "Age of the oldest WAL received but not yet durable; while streaming is interrupted, time since the interruption");
        _meter.CreateObservableGauge("pgvault.wal.durable_lsn", () => Each(w => w.Chain.Current?.EndLsn), null,
            "End of the WAL the repository holds durably (LSN as a byte position); the catalog row follows within a second");
        _meter.CreateObservableGauge("pgvault.wal.streaming", () => Each(w => w.Chain.Streaming ? 1 : 0), null,
            "1 while WAL streaming is connected, 0 otherwise");
        _meter.CreateObservableGauge("pgvault.recovery_window.start_timestamp", () => Each(WindowStart), "s",
            "Earliest restorable time (Unix seconds) of the active backup (its earliestRecoveryTargetTime)");
        _meter.CreateObservableGauge("pgvault.recovery_window.end_timestamp", () => Each(WindowEnd), "s",
            "Latest restorable time (Unix seconds) of the active backup: now minus the WAL lag in seconds");
        _meter.CreateObservableGauge("pgvault.repository.size", () => Each(w => w.Chain.Current?.SizeBytes), "By",
            "Bytes the active backup (base backups and WAL, compressed) takes in the repository");
        _meter.CreateObservableGauge("pgvault.api.read_model.backups", () => readModel.Count, null,
            "Backups held by the API's read model (0 while it loads or when it is off)");
        _meter.CreateObservableGauge("pgvault.api.read_model.size", () => readModel.ItemBytes, "By",
            "Bytes of the JSON items the API's read model holds");
    }

    private IEnumerable<Measurement<double>> Each(Func<ClusterWorker, double?> read)
    {
        var list = new List<Measurement<double>>();
        foreach (var worker in _engine.Workers)
        {
            if (worker.Chain.Current is null || read(worker) is not { } value)
                continue;
            list.Add(new Measurement<double>(value, new KeyValuePair<string, object?>(PgVaultMetrics.ClusterTag, worker.Cluster.Id)));
        }

        return list;
    }

    private static BaseBackupRecord? NewestComplete(ClusterWorker w) =>
        w.Chain.BaseBackups.Where(b => b.State == BaseBackupState.Complete && b.CompletedAt is not null)
            .MaxBy(b => b.CompletedAt);

    private static double? LastSuccess(ClusterWorker w) => NewestComplete(w)?.CompletedAt?.ToUnixTimeMilliseconds() / 1000.0;

    private static double? LastDuration(ClusterWorker w) => NewestComplete(w) is { CompletedAt: { } done } b ? (done - b.StartedAt).TotalSeconds : null;

    private static double? LastThroughput(ClusterWorker w) =>
        NewestComplete(w) is { CompletedAt: { } done } b ? b.DatabaseBytes / Math.Max(0.001, (done - b.StartedAt).TotalSeconds) : null;

    /// <summary>WAL bytes the server has written that the repository does not hold durably yet.</summary>
    internal static double? LagBytes(ClusterWorker w)
    {
        var durable = w.Chain.Current?.EndLsn ?? 0;
        var server = w.Streamer.Lag.ServerEnd.Value;
        return server > durable ? server - durable : 0;
    }

    private double? LagSeconds(ClusterWorker w) => Math.Max(0, (_time.GetUtcNow() - DurableUntil(w, _time.GetUtcNow())).TotalSeconds);

    /// <summary>Up to when the cluster's history is durable in the repository, as far as the streamer can tell.</summary>
    internal static DateTimeOffset DurableUntil(ClusterWorker w, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(w);
        var interrupted = w.Chain.InterruptedSince;
        if (!w.Chain.Streaming)
            return interrupted ?? now;
        // Reconnected but nothing stored since the interruption (the repository is still down): it still counts.
        var pending = w.Streamer.Lag.OldestPendingSince;
        return interrupted is { } i && (pending is null || i < pending) ? i : pending ?? now;
    }

    private static double? WindowStart(ClusterWorker w) => w.Chain.Current?.EarliestRecoveryTargetTime?.ToUnixTimeMilliseconds() / 1000.0;

    private double? WindowEnd(ClusterWorker w) =>
        w.Chain.Current?.EarliestRecoveryTargetTime is null ? null : DurableUntil(w, _time.GetUtcNow()).ToUnixTimeMilliseconds() / 1000.0;
}
