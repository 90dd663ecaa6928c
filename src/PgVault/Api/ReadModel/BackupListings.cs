using PgVault.Catalog;
using PgVault.Errors;

namespace PgVault.Api.ReadModel;

/// <summary>
/// A page of backups for a list with id <paramref name="Id"/> (<c>backups</c>, or a cluster's id): the read model's
/// serialized items (<paramref name="Items"/>) or, when it could not answer, the catalog's records (<paramref name="Records"/>).
/// </summary>
public sealed record BackupListing(string Id, BackupItemPage? Items, Page<BackupRecord>? Records);

/// <summary>One backup: the read model's serialized item (<paramref name="Json"/>) or the catalog's record.</summary>
public sealed record BackupDocument(byte[]? Json, BackupRecord? Record);

/// <summary>
/// The Backups endpoints' one application service: answers from the read model (<see cref="BackupReadModel"/>) when it
/// can, otherwise from the catalog (<see cref="CatalogQueries"/>). Both give the same data and the same errors; the
/// visibility rule is the same too: a principal sees only its clusters, anything else is "not found".
/// </summary>
public sealed class BackupListings(BackupReadModel model, CatalogQueries queries)
{
    public async Task<BackupListing> ListBackupsAsync(ClusterScope scope, PageRequest page, CancellationToken ct)
    {
        var items = await model.ListAsync(scope, page, ct).ConfigureAwait(false);
        if (items is not null)
            return new BackupListing("backups", items, null);
        return new BackupListing("backups", null, await queries.ListBackupsAsync(scope, page, ct).ConfigureAwait(false));
    }

    public async Task<BackupListing> ListClusterBackupsAsync(ClusterScope scope, string clusterId, PageRequest page, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (!scope.Allows(clusterId))
            throw new PgVaultException(ErrorCode.NotFound, $"cluster '{clusterId}' not found");
        var items = await model.ListClusterAsync(clusterId, page, ct).ConfigureAwait(false);
        if (items is null)
            return new BackupListing(clusterId, null, await queries.ListClusterBackupsAsync(scope, clusterId, page, ct).ConfigureAwait(false));

        // A page with backups proves the cluster exists; only an empty one needs the cluster looked up (404 if unknown).
        if (items.Items.Length == 0)
            await queries.GetClusterAsync(scope, clusterId, ct).ConfigureAwait(false);
        return new BackupListing(clusterId, items, null);
    }

    public async Task<BackupDocument> GetBackupAsync(ClusterScope scope, string backupId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var (answered, clusterId, json) = await model.GetAsync(backupId, ct).ConfigureAwait(false);
        if (!answered)
            return new BackupDocument(null, await queries.GetBackupAsync(scope, backupId, ct).ConfigureAwait(false));
        if (json is null || !scope.Allows(clusterId!))
            throw new PgVaultException(ErrorCode.NotFound, $"backup '{backupId}' not found");
        return new BackupDocument(json, null);
    }
}
