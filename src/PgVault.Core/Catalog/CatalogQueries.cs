using PgVault.Errors;

namespace PgVault.Catalog;

/// <summary>
/// What the API asks of the catalog, with the visibility rule applied in one place: a principal sees only the clusters
/// it is granted, and anything else answers "not found" exactly as a nonexistent resource does.
/// </summary>
public sealed class CatalogQueries(ICatalog catalog)
{
    public Task<Page<BackupRecord>> ListBackupsAsync(ClusterScope scope, PageRequest page, CancellationToken ct) =>
        catalog.ListBackupsAsync(scope, page, ct);

    public async Task<BackupRecord> GetBackupAsync(ClusterScope scope, string backupId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var backup = await catalog.GetBackupAsync(backupId, ct).ConfigureAwait(false);
        if (backup is null || !scope.Allows(backup.ClusterId))
            throw new PgVaultException(ErrorCode.NotFound, $"backup '{backupId}' not found");
        return backup;
    }

    public async Task<Page<BackupRecord>> ListClusterBackupsAsync(ClusterScope scope, string clusterId, PageRequest page,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (!scope.Allows(clusterId))
            throw new PgVaultException(ErrorCode.NotFound, $"cluster '{clusterId}' not found");
        var result = await catalog.ListBackupsAsync(ClusterScope.Only([clusterId]), page, ct).ConfigureAwait(false);
        // A page with backups proves the cluster exists; only an empty one needs the cluster looked up (404 if unknown).
        if (result.Items.Count == 0)
            await GetClusterAsync(scope, clusterId, ct).ConfigureAwait(false);
        return result;
    }

    public Task<Page<ClusterRecord>> ListClustersAsync(ClusterScope scope, PageRequest page, string? nameContains, CancellationToken ct) =>
        catalog.ListClustersAsync(scope, page, string.IsNullOrEmpty(nameContains) ? null : nameContains, ct);

    public async Task<ClusterRecord> GetClusterAsync(ClusterScope scope, string clusterId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var cluster = scope.Allows(clusterId) ? await catalog.GetClusterAsync(clusterId, ct).ConfigureAwait(false) : null;
        return cluster ?? throw new PgVaultException(ErrorCode.NotFound, $"cluster '{clusterId}' not found");
    }
}
