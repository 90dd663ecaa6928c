namespace PgVault.Catalog;

/// <summary>State of a backup (a cluster's continuous backup chain), exactly the IONOS <c>State</c> enum.</summary>
public enum BackupState
{
    /// <summary>Restorable: at least one complete base backup with unbroken WAL to the chain's end.</summary>
    Available,
    /// <summary>The first base backup is running.</summary>
    Busy,
    /// <summary>Being deleted by expiry.</summary>
    Destroying,
    /// <summary>Restorable, but WAL streaming is interrupted or lagging, or a later base backup failed.</summary>
    Degraded,
    /// <summary>Nothing in the chain is restorable.</summary>
    Failed,
    /// <summary>The state cannot be determined.</summary>
    Unknown,
}

/// <summary>State of a cluster as the IONOS API reports it.</summary>
public enum ClusterState
{
    Available,
    Busy,
    Destroying,
    Degraded,
    Failed,
    Unknown,
}

/// <summary>
/// One backup as the API shows it: a cluster's continuous backup chain (base backups plus the WAL between them).
/// The catalog is an index of the repository, not the source of truth.
/// </summary>
public sealed record BackupRecord
{
    /// <summary>Opaque, stable id; PgVault uses the IONOS form <c>&lt;clusterId&gt;-&lt;suffix&gt;-&lt;pg major&gt;</c>.</summary>
    public required string Id { get; init; }

    public required string ClusterId { get; init; }

    /// <summary>When the chain was started (UTC, microsecond precision in every catalog).</summary>
    public required DateTimeOffset CreatedDate { get; init; }

    public required BackupState State { get; init; }

    /// <summary>PostgreSQL major version, e.g. "15".</summary>
    public required string Version { get; init; }

    /// <summary>True for the chain that currently receives the cluster's WAL.</summary>
    public required bool IsActive { get; init; }

    /// <summary>The oldest restorable moment; null until the first base backup completes.</summary>
    public DateTimeOffset? EarliestRecoveryTargetTime { get; init; }

    /// <summary>Stored bytes of the chain's base backups and WAL (compressed, as in the repository).</summary>
    public long SizeBytes { get; init; }

    /// <summary>Name of the backup location (the IONOS <c>backupLocation</c>) holding the chain.</summary>
    public required string Location { get; init; }

    /// <summary>The cluster's system identifier (pg_control), set by the backup engine; null when not known yet.</summary>
    public string? SystemIdentifier { get; init; }

    /// <summary>Timeline the chain's WAL is currently on (it moves forward across promotions); null when not known yet.</summary>
    public int? Timeline { get; init; }

    /// <summary>First WAL position the chain holds (the first base backup's start); null when not known yet.</summary>
    public ulong? StartLsn { get; init; }

    /// <summary>Durable end of the chain's WAL in the repository; null when not known yet.</summary>
    public ulong? EndLsn { get; init; }
}

/// <summary>A cluster PgVault backs up, as listed by <c>GET /clusters</c>.</summary>
public sealed record ClusterRecord
{
    public required string Id { get; init; }

    public required string DisplayName { get; init; }

    /// <summary>When PgVault first registered the cluster.</summary>
    public required DateTimeOffset CreatedDate { get; init; }

    public ClusterState State { get; init; } = ClusterState.Unknown;

    /// <summary>PostgreSQL major version once the engine has connected; null before.</summary>
    public string? PostgresVersion { get; init; }

    public required string BackupLocation { get; init; }
}

/// <summary>State of one base backup.</summary>
public enum BaseBackupState
{
    /// <summary>Being taken; never restorable.</summary>
    Running,
    /// <summary>All data and its completion marker are in the repository.</summary>
    Complete,
    /// <summary>Failed or interrupted; never restorable.</summary>
    Failed,
}

/// <summary>One base backup of a chain, as the catalog indexes it (the repository's <c>backup.json</c> is authoritative).</summary>
public sealed record BaseBackupRecord
{
    /// <summary>The chain (API backup) it belongs to.</summary>
    public required string BackupId { get; init; }

    /// <summary>Unique within the chain; sorts in start order (<c>yyyyMMddTHHmmssZ</c>-based).</summary>
    public required string Label { get; init; }

    public required BaseBackupState State { get; init; }

    /// <summary>
    /// What it holds, pgBackRest's words: <c>full</c> (every file), <c>diff</c> (the changes since the last full base
    /// backup) or <c>incr</c> (since the last base backup of any type); the repository's <c>backup.json</c> records the
    /// same. While running, the type asked for; once complete, the type taken (a diff or incr without a usable reference
    /// is taken full).
    /// </summary>
    public string Type { get; init; } = FullType;

    public required int Timeline { get; init; }

    /// <summary>WAL position where the backup starts (its checkpoint's redo point); null while unknown.</summary>
    public ulong? StartLsn { get; init; }

    /// <summary>WAL position where the backup is consistent; null until it completes.</summary>
    public ulong? EndLsn { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>When it completed (its consistency point, as the wall clock saw it); null before.</summary>
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>Bytes stored in the repository (compressed).</summary>
    public long SizeBytes { get; init; }

    /// <summary>Bytes of the database copied (the uncompressed tar stream).</summary>
    public long DatabaseBytes { get; init; }

    /// <summary>Why it failed; null otherwise.</summary>
    public string? Error { get; init; }

    /// <summary>The <see cref="Type"/> of a base backup holding every file.</summary>
    public const string FullType = "full";
}

/// <summary>
/// One period of a cluster's history that a recovery window does not show by itself: WAL streaming interrupted, the
/// active backup DEGRADED or FAILED, or the moment a backup stopped receiving WAL. The engine writes a period when it
/// begins and ends it when it is over (state transitions only, never per WAL flush); the catalog keeps the periods of
/// the retention window, at most <see cref="MaxPerCluster"/> per cluster.
/// </summary>
public sealed record ClusterPeriodRecord
{
    /// <summary>WAL streaming was interrupted (disconnected, or WAL received but not stored).</summary>
    public const string Interrupted = "interrupted";

    /// <summary>The active backup was DEGRADED.</summary>
    public const string Degraded = "degraded";

    /// <summary>The active backup was FAILED.</summary>
    public const string Failed = "failed";

    /// <summary>The backup stopped receiving WAL (a new active backup replaced it): start and end are its WAL's end.</summary>
    public const string Ended = "ended";

    /// <summary>The most periods kept per cluster (the oldest ended ones go first).</summary>
    public const int MaxPerCluster = 1000;

    public required string ClusterId { get; init; }

    /// <summary>The backup (chain) it concerns; null when none was active.</summary>
    public string? BackupId { get; init; }

    /// <summary><see cref="Interrupted"/>, <see cref="Degraded"/>, <see cref="Failed"/> or <see cref="Ended"/>.</summary>
    public required string Kind { get; init; }

    public required DateTimeOffset Start { get; init; }

    /// <summary>When it ended; null while it goes on.</summary>
    public DateTimeOffset? End { get; init; }

    /// <summary>Why, in the words of the engine's log.</summary>
    public required string Reason { get; init; }
}
