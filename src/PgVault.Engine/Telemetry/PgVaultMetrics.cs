using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace PgVault.Engine.Telemetry;

/// <summary>
/// The instruments PgVault records into when something finishes (base backups, restores), on the <c>PgVault</c>
/// <see cref="Meter"/>. Values that describe current state (last base backup, WAL lag, recovery window, repository
/// size) are observable gauges registered by <c>serve</c> over its workers instead (<c>Hosting/EngineGauges</c>).
/// Here in the engine so that the CLI, the API and the restore code all reach the same instruments; exported only
/// where a metrics listener runs (<c>serve</c>'s <c>GET /metrics</c>), and free otherwise. docs/OPERATIONS.md documents every series.
/// </summary>
public static class PgVaultMetrics
{
    /// <summary>Name of the meter every PgVault instrument belongs to.</summary>
    public const string MeterName = "PgVault";

    /// <summary>Label naming the cluster (its id) on every per-cluster series.</summary>
    public const string ClusterTag = "cluster";

    /// <summary>Bucket bounds (seconds) for operations that take seconds to hours.</summary>
    private static readonly double[] LongOperationBucketsSeconds =
        [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 43200, 86400];

    private static readonly Meter Meter = new(MeterName);

    private static readonly Histogram<double> BaseBackupDuration = Meter.CreateHistogram(
        "pgvault.base_backup.duration", "s", "Duration of completed base backups",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LongOperationBucketsSeconds });

    private static readonly Counter<long> BaseBackupBytes = Meter.CreateCounter<long>(
        "pgvault.base_backup.database_bytes", "By", "Database bytes copied by completed base backups (uncompressed)");

    private static readonly Counter<long> BaseBackups = Meter.CreateCounter<long>(
        "pgvault.base_backups", null, "Base backups ended, by outcome (complete, failed)");

    private static readonly Histogram<double> RestoreDuration = Meter.CreateHistogram(
        "pgvault.restore.duration", "s", "Duration of completed restores",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LongOperationBucketsSeconds });

    private static readonly Counter<long> RestoreBytes = Meter.CreateCounter<long>(
        "pgvault.restore.database_bytes", "By", "Database bytes written by completed restores (uncompressed)");

    /// <summary>Records a completed base backup: its duration and the database bytes it copied.</summary>
    public static void RecordBaseBackupCompleted(string clusterId, TimeSpan duration, long databaseBytes)
    {
        var cluster = new KeyValuePair<string, object?>(ClusterTag, clusterId);
        BaseBackupDuration.Record(Math.Max(0, duration.TotalSeconds), cluster);
        BaseBackupBytes.Add(Math.Max(0, databaseBytes), cluster);
        BaseBackups.Add(1, cluster, new KeyValuePair<string, object?>("outcome", "complete"));
    }

    /// <summary>Counts a base backup that failed (or was interrupted).</summary>
    public static void RecordBaseBackupFailed(string clusterId) =>
        BaseBackups.Add(1, new KeyValuePair<string, object?>(ClusterTag, clusterId), new KeyValuePair<string, object?>("outcome", "failed"));

    /// <summary>
    /// Records a completed restore (the CLI's <c>pgvault restore</c> or an in-place restore through the API): its
    /// duration and the database bytes it wrote.
    /// </summary>
    public static void RecordRestore(string clusterId, TimeSpan duration, long databaseBytes)
    {
        var cluster = new KeyValuePair<string, object?>(ClusterTag, clusterId);
        RestoreDuration.Record(Math.Max(0, duration.TotalSeconds), cluster);
        RestoreBytes.Add(Math.Max(0, databaseBytes), cluster);
    }

    /// <summary>
    /// The one call a restore makes when it completes: records <see cref="RecordRestore"/> and writes the restore's
    /// log line (cluster, backup, target, bytes, duration, throughput) as structured fields.
    /// </summary>
    public static void RestoreCompleted(ILogger logger, string clusterId, string backupId, string target, long databaseBytes,
        TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(logger);
        RecordRestore(clusterId, duration, databaseBytes);
        var seconds = Math.Max(0.001, duration.TotalSeconds);
        logger.LogInformation(
            "cluster {Cluster}: restore of backup {Backup} to {Target} complete: {DatabaseBytes} bytes in {DurationSeconds:0.0} s " +
            "({BytesPerSecond:0} bytes/s)",
            clusterId, backupId, target, databaseBytes, duration.TotalSeconds, databaseBytes / seconds);
    }
}
