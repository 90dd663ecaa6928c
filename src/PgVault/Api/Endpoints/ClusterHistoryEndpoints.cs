using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Catalog;

namespace PgVault.Api.Endpoints;

/// <summary>
/// PgVault's extension: <c>GET /clusters/{clusterId}/history</c>, the periods of the cluster's history a recovery window
/// does not show by itself (WAL streaming interrupted, the active backup DEGRADED or FAILED, a backup's WAL ending), newest
/// first, as the backup engine recorded them. Authorised as the cluster's backups are (a cluster not granted or unknown
/// answers 404).
/// </summary>
public static class ClusterHistoryEndpoints
{
    public static RouteGroupBuilder MapClusterHistoryEndpoints(this IEndpointRouteBuilder routes, string prefix)
    {
        var group = routes.MapGroup(prefix).RequireAuthorization();
        group.MapGet("/clusters/{clusterId}/history", GetHistoryAsync).WithName(prefix + "clusterHistoryGet");
        return group;
    }

    private static async Task<JsonHttpResult<ClusterHistory>> GetHistoryAsync(string clusterId, HttpContext context, CatalogQueries queries,
        ICatalog catalog, CancellationToken ct)
    {
        var id = ClusterIds.Normalize(clusterId);
        await queries.GetClusterAsync(context.ApiPrincipal().Scope, id, ct); // 404 when not granted or unknown
        var periods = await catalog.ListClusterPeriodsAsync(id, DateTimeOffset.UnixEpoch, ClusterPeriodRecord.MaxPerCluster, ct);
        return TypedResults.Json(new ClusterHistory("collection", id, [.. periods.Select(ToItem)]), ApiJsonContext.Api.ClusterHistory);
    }

    private static ClusterPeriodItem ToItem(ClusterPeriodRecord p) =>
        new(p.Kind, p.BackupId, ContractMapper.Timestamp(p.Start), p.End is { } end ? ContractMapper.Timestamp(end) : null, p.Reason);
}
