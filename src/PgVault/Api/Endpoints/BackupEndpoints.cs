using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Catalog;

namespace PgVault.Api.Endpoints;

/// <summary>The IONOS "Backups" endpoints, exactly as in the seed spec.</summary>
public static class BackupEndpoints
{
    public static RouteGroupBuilder MapBackupEndpoints(this IEndpointRouteBuilder routes, string prefix)
    {
        var group = routes.MapGroup(prefix).RequireAuthorization();
        group.MapGet("/clusters/backups", ListBackupsAsync).WithName(prefix + "clustersBackupsGet");
        group.MapGet("/clusters/backups/{backupId}", GetBackupAsync).WithName(prefix + "clustersBackupsFindById");
        group.MapGet("/clusters/{clusterId}/backups", ListClusterBackupsAsync).WithName(prefix + "clusterBackupsGet");
        return group;
    }

    private static async Task<JsonHttpResult<ClusterBackupList>> ListBackupsAsync(HttpContext context, CatalogQueries queries, CancellationToken ct)
    {
        var page = PageQuery.Parse(context.Request.Query);
        var result = await queries.ListBackupsAsync(context.ApiPrincipal().Scope, page, ct);
        return TypedResults.Json(ContractMapper.ToList("backups", result, context.Request), ApiJsonContext.Api.ClusterBackupList);
    }

    private static async Task<JsonHttpResult<BackupResponse>> GetBackupAsync(string backupId, HttpContext context, CatalogQueries queries,
        CancellationToken ct)
    {
        var backup = await queries.GetBackupAsync(context.ApiPrincipal().Scope, backupId, ct);
        return TypedResults.Json(ContractMapper.ToResponse(backup), ApiJsonContext.Api.BackupResponse);
    }

    private static async Task<JsonHttpResult<ClusterBackupList>> ListClusterBackupsAsync(string clusterId, HttpContext context,
        CatalogQueries queries, CancellationToken ct)
    {
        var page = PageQuery.Parse(context.Request.Query);
        var id = ClusterIds.Normalize(clusterId);
        var result = await queries.ListClusterBackupsAsync(context.ApiPrincipal().Scope, id, page, ct);
        return TypedResults.Json(ContractMapper.ToList(id, result, context.Request), ApiJsonContext.Api.ClusterBackupList);
    }
}
