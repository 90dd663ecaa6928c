namespace PgVault.Catalog;

/// <summary>
/// The catalog: an index over the repository that serves the API. It can be rebuilt from the repository, so losing it
/// never makes a backup unrestorable. Implementations: SQLite (embedded default) and PostgreSQL (shared by several
/// pgvault instances). Both pass <c>CatalogContract</c>.
/// </summary>
/// <remarks>
/// Listings are stable: newest <c>CreatedDate</c> first, then <c>Id</c> ascending (ordinal), served by an index.
/// Cluster and backup ids compare case-sensitively. Every method is safe to call concurrently.
/// </remarks>
public interface ICatalog
{
    /// <summary>"sqlite" or "postgres".</summary>
    string Provider { get; }

    /// <summary>
    /// Creates or upgrades the schema to this version's. Idempotent and safe when several instances start at once.
    /// Throws <see cref="Errors.PgVaultException"/> (<c>CatalogSchemaTooNew</c>) when the schema is newer than this code.
    /// </summary>
    Task MigrateAsync(CancellationToken ct);

    /// <summary>Checks that the catalog answers; throws when it does not.</summary>
    Task PingAsync(CancellationToken ct);

    /// <summary>
    /// Inserts a cluster, or updates an existing one's display name, state, version and location.
    /// An existing cluster keeps its original <see cref="ClusterRecord.CreatedDate"/>, and its known PostgreSQL version
    /// when the new record has none.
    /// </summary>
    Task UpsertClusterAsync(ClusterRecord cluster, CancellationToken ct);

    /// <summary>The cluster, or null when it is unknown.</summary>
    Task<ClusterRecord?> GetClusterAsync(string clusterId, CancellationToken ct);

    /// <summary>
    /// A page of the clusters in <paramref name="scope"/>, newest first, then by id; with <paramref name="nameContains"/>,
    /// only those whose display name contains it, compared case-insensitively (the IONOS <c>filter.name</c>).
    /// </summary>
    Task<Page<ClusterRecord>> ListClustersAsync(ClusterScope scope, PageRequest page, string? nameContains, CancellationToken ct);

    /// <summary>
    /// Inserts or replaces backups by id, all in one transaction: either every record is stored or none is.
    /// </summary>
    Task SaveBackupsAsync(IReadOnlyCollection<BackupRecord> backups, CancellationToken ct);

    /// <summary>The backup, or null when it is unknown.</summary>
    Task<BackupRecord?> GetBackupAsync(string backupId, CancellationToken ct);

    /// <summary>A page of the backups of the clusters in <paramref name="scope"/>, newest first, then by id.</summary>
    Task<Page<BackupRecord>> ListBackupsAsync(ClusterScope scope, PageRequest page, CancellationToken ct);

    /// <summary>Deletes a backup and its base backups; returns false when it did not exist (not an error).</summary>
    Task<bool> DeleteBackupAsync(string backupId, CancellationToken ct);

    /// <summary>The cluster's active backup (the chain receiving its WAL), or null when it has none.</summary>
    Task<BackupRecord?> GetActiveBackupAsync(string clusterId, CancellationToken ct);

    /// <summary>Inserts or replaces a base backup by (backup id, label).</summary>
    Task SaveBaseBackupAsync(BaseBackupRecord baseBackup, CancellationToken ct);

    /// <summary>Deletes one base backup of a backup (expiry); returns false when it did not exist (not an error).</summary>
    Task<bool> DeleteBaseBackupAsync(string backupId, string label, CancellationToken ct);

    /// <summary>The base backups of a backup (chain), oldest first.</summary>
    Task<IReadOnlyList<BaseBackupRecord>> ListBaseBackupsAsync(string backupId, CancellationToken ct);

    /// <summary>
    /// Records the beginning of a period of the cluster's history. A period without <see cref="ClusterPeriodRecord.End"/>
    /// is open: none is added while one of the same cluster and kind is open (returns false). In the same transaction the
    /// cluster's periods that ended before <paramref name="pruneBefore"/> are deleted, and the oldest ended ones beyond
    /// <see cref="ClusterPeriodRecord.MaxPerCluster"/>.
    /// </summary>
    Task<bool> OpenClusterPeriodAsync(ClusterPeriodRecord period, DateTimeOffset pruneBefore, CancellationToken ct);

    /// <summary>Ends the cluster's open periods of <paramref name="kind"/> at <paramref name="end"/> (never before their
    /// start); returns how many there were.</summary>
    Task<int> CloseClusterPeriodsAsync(string clusterId, string kind, DateTimeOffset end, CancellationToken ct);

    /// <summary>The cluster's periods open or ended at or after <paramref name="since"/>, newest start first, at most
    /// <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<ClusterPeriodRecord>> ListClusterPeriodsAsync(string clusterId, DateTimeOffset since, int limit, CancellationToken ct);
}
