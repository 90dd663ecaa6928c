using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Api.ReadModel;

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

    private static Task<Results<Utf8JsonResult, JsonHttpResult<ClusterBackupList>>> ListBackupsAsync(HttpContext context,
        BackupListings listings, CancellationToken ct) =>
        listings.ListBackupsAsync(context.ApiPrincipal().Scope, PageQuery.Parse(context.Request.Query), context.Request, ct);

    private static Task<Results<Utf8JsonResult, JsonHttpResult<BackupResponse>>> GetBackupAsync(string backupId, HttpContext context,
        BackupListings listings, CancellationToken ct) =>
        listings.GetBackupAsync(context.ApiPrincipal().Scope, backupId, ct);

    private static Task<Results<Utf8JsonResult, JsonHttpResult<ClusterBackupList>>> ListClusterBackupsAsync(string clusterId,
        HttpContext context, BackupListings listings, CancellationToken ct)
    {
        var page = PageQuery.Parse(context.Request.Query);
        return listings.ListClusterBackupsAsync(context.ApiPrincipal().Scope, ClusterIds.Normalize(clusterId), page, context.Request, ct);
    }
}
