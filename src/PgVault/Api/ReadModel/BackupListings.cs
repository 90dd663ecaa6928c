using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Contracts;
using PgVault.Catalog;
using PgVault.Errors;

namespace PgVault.Api.ReadModel;

/// <summary>
/// The Backups endpoints' one application service: answers from the read model (<see cref="BackupReadModel"/>) when it
/// can, otherwise from the catalog (<see cref="CatalogQueries"/>). Both give the same bytes and the same errors; the
/// visibility rule is the same too: a principal sees only its clusters, anything else is "not found".
/// </summary>
public sealed class BackupListings(BackupReadModel model, CatalogQueries queries)
{
    public async Task<Results<Utf8JsonResult, JsonHttpResult<ClusterBackupList>>> ListBackupsAsync(ClusterScope scope, PageRequest page,
        HttpRequest request, CancellationToken ct)
    {
        var items = await model.ListAsync(scope, page, ct).ConfigureAwait(false);
        if (items is not null)
            return Utf8JsonResult.List("backups", items, request);
        var result = await queries.ListBackupsAsync(scope, page, ct).ConfigureAwait(false);
        return TypedResults.Json(ContractMapper.ToList("backups", result, request), ApiJsonContext.Api.ClusterBackupList);
    }

    public async Task<Results<Utf8JsonResult, JsonHttpResult<ClusterBackupList>>> ListClusterBackupsAsync(ClusterScope scope,
        string clusterId, PageRequest page, HttpRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (!scope.Allows(clusterId))
            throw new PgVaultException(ErrorCode.NotFound, $"cluster '{clusterId}' not found");
        var items = await model.ListClusterAsync(clusterId, page, ct).ConfigureAwait(false);
        if (items is null)
        {
            var result = await queries.ListClusterBackupsAsync(scope, clusterId, page, ct).ConfigureAwait(false);
            return TypedResults.Json(ContractMapper.ToList(clusterId, result, request), ApiJsonContext.Api.ClusterBackupList);
        }

        // A page with backups proves the cluster exists; only an empty one needs the cluster looked up (404 if unknown).
        if (items.Items.Length == 0)
            await queries.GetClusterAsync(scope, clusterId, ct).ConfigureAwait(false);
        return Utf8JsonResult.List(clusterId, items, request);
    }

    public async Task<Results<Utf8JsonResult, JsonHttpResult<BackupResponse>>> GetBackupAsync(ClusterScope scope, string backupId,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var (answered, clusterId, json) = await model.GetAsync(backupId, ct).ConfigureAwait(false);
        if (!answered)
        {
            var backup = await queries.GetBackupAsync(scope, backupId, ct).ConfigureAwait(false);
            return TypedResults.Json(ContractMapper.ToResponse(backup), ApiJsonContext.Api.BackupResponse);
        }

        if (json is null || !scope.Allows(clusterId!))
            throw new PgVaultException(ErrorCode.NotFound, $"backup '{backupId}' not found");
        return Utf8JsonResult.Document(json);
    }
}
