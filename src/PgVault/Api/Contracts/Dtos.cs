using System.Text.Json.Serialization;

namespace PgVault.Api.Contracts;

// The IONOS DBaaS PostgreSQL contract types (../shared/spec/backups-openapi.json). Only these leave the API.
// Null members are left out of the JSON, never written as null. Times are strings formatted by ContractMapper.Timestamp
// (UTC, whole seconds, ending in Z), which keeps System.Text.Json's source-generated fast path (no custom converter).

/// <summary>IONOS <c>BackupResponse</c>.</summary>
public sealed record BackupResponse(string Type, string Id, BackupMetadata Metadata, ClusterBackup Properties);

/// <summary>IONOS <c>BackupMetadata</c>.</summary>
public sealed record BackupMetadata(string CreatedDate, string State);

/// <summary>IONOS <c>ClusterBackup</c>; <c>size</c> is whole MB (MiB), rounded up.</summary>
public sealed record ClusterBackup(
    string Id,
    string ClusterId,
    string Version,
    bool IsActive,
    string? EarliestRecoveryTargetTime,
    long Size,
    string Location);

/// <summary>IONOS <c>ClusterBackupList</c> (with <c>DeprecatedPagination</c>).</summary>
public sealed record ClusterBackupList(
    string Type,
    string Id,
    IReadOnlyList<BackupResponse> Items,
    int Offset,
    int Limit,
    PaginationLinks Links)
{
    /// <summary>
    /// <c>_links</c> mirrors <see cref="Links"/>: the IONOS SDKs read <c>links</c> for these lists (the seed spec's name), and
    /// <c>_links</c> is the newer spelling other IONOS lists use; clients of either find the links.
    /// </summary>
    [JsonPropertyName("_links")]
    public PaginationLinks LegacyLinks => Links;
}

/// <summary>
/// PgVault extension: one base backup of a backup (chain), <c>GET /clusters/backups/{backupId}/basebackups/{label}</c>. Its
/// id is its label; <c>metadata.state</c> is BUSY while it runs, AVAILABLE once complete, FAILED when it failed.
/// </summary>
public sealed record BaseBackupResponse(string Type, string Id, BackupMetadata Metadata, BaseBackupProperties Properties);

/// <summary>
/// A base backup's properties: times as IONOS writes them (UTC, whole seconds), LSNs as PostgreSQL does, bytes stored in the
/// repository (compressed) and copied from the database; <c>keep</c> and <c>annotations</c> as <c>pgvault annotate</c> set them.
/// </summary>
public sealed record BaseBackupProperties(
    string Label,
    string BackupId,
    string Type,
    int Timeline,
    string StartTime,
    string? StopTime,
    string? StartLsn,
    string? StopLsn,
    long StoredBytes,
    long DatabaseBytes,
    double? DurationSeconds,
    bool Keep,
    IReadOnlyDictionary<string, string>? Annotations,
    string? Error);

/// <summary>PgVault extension: the base backups of a backup, newest first, in the IONOS list envelope.</summary>
public sealed record BaseBackupList(
    string Type,
    string Id,
    IReadOnlyList<BaseBackupResponse> Items,
    int Offset,
    int Limit,
    PaginationLinks Links)
{
    /// <summary>The same links as <see cref="Links"/>, as the IONOS lists spell them too.</summary>
    [JsonPropertyName("_links")]
    public PaginationLinks LegacyLinks => Links;
}

/// <summary>IONOS <c>PaginationLinks</c>: absolute URLs.</summary>
public sealed record PaginationLinks(string? Prev, string Self, string? Next);

/// <summary>IONOS <c>ClusterResponse</c> (the part PgVault knows).</summary>
public sealed record ClusterResponse(string Type, string Id, ClusterMetadata Metadata, ClusterProperties Properties);

public sealed record ClusterMetadata(string CreatedDate, string State);

public sealed record ClusterProperties(string DisplayName, string? PostgresVersion, string BackupLocation);

/// <summary>IONOS <c>ClusterList</c>.</summary>
public sealed record ClusterList(
    string Type,
    string Id,
    IReadOnlyList<ClusterResponse> Items,
    int Offset,
    int Limit,
    PaginationLinks Links)
{
    [JsonPropertyName("_links")]
    public PaginationLinks LegacyLinks => Links;
}

/// <summary>IONOS <c>ErrorResponse</c> (not RFC 7807).</summary>
public sealed record ErrorResponse(int HttpStatus, IReadOnlyList<ErrorMessage> Messages);

/// <summary>IONOS <c>ErrorMessage</c>.</summary>
public sealed record ErrorMessage(string ErrorCode, string Message);

/// <summary>Body of <c>GET /healthz</c>.</summary>
public sealed record HealthResponse(string Status);

/// <summary>Body of <c>POST /clusters/{clusterId}/backups</c> (PgVault's extension; the body is optional).</summary>
public sealed record CreateBaseBackupRequest
{
    /// <summary><c>full</c>, <c>diff</c> or <c>incr</c>; the cluster's default when left out.</summary>
    public string? Type { get; init; }
}

/// <summary>Body of <c>POST /clusters/{clusterId}/restore</c> (the IONOS <c>CreateRestoreRequest</c>).</summary>
public sealed record CreateRestoreRequest
{
    /// <summary>The backup to restore from.</summary>
    public string? BackupId { get; init; }

    /// <summary>Point in time to recover to (ISO 8601); the backup's latest point when left out.</summary>
    public string? RecoveryTargetTime { get; init; }
}

/// <summary>Body of <c>GET /readyz</c>: <c>ready</c> or <c>unavailable</c>, and every check.</summary>
public sealed record ReadinessResponse(string Status, IReadOnlyList<ReadinessCheck>? Checks);

/// <summary>One readiness check: <c>catalog</c> or <c>location:NAME</c>, <c>ok</c> or <c>failed</c>, and why it failed.</summary>
public sealed record ReadinessCheck(string Name, string Status, double DurationMs, string? Reason = null);

/// <summary>PgVault extension: the periods of a cluster's history (<c>GET /clusters/{clusterId}/history</c>), newest first.</summary>
public sealed record ClusterHistory(string Type, string Id, IReadOnlyList<ClusterPeriodItem> Items);

/// <summary>
/// One period: <c>interrupted</c> (WAL streaming), <c>degraded</c> or <c>failed</c> (the active backup's state), or
/// <c>ended</c> (the backup stopped receiving WAL: start and end are its WAL's end). <c>end</c> is left out while it goes on.
/// </summary>
public sealed record ClusterPeriodItem(string Kind, string? BackupId, string Start, string? End, string Reason);
