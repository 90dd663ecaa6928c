using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Api.ReadModel;

namespace PgVault.Api.Endpoints;

/// <summary>The IONOS "Backups" endpoints, exactly as in the seed spec.</summary>
public static class BackupEndpoints
{
    /// <summary>The name of <c>GET /clusters/backups/{backupId}</c> (after the group's prefix).</summary>
    public const string GetBackupName = "clustersBackupsFindById";

    public static RouteGroupBuilder MapBackupEndpoints(this IEndpointRouteBuilder routes, string prefix)
    {
        var group = routes.MapGroup(prefix).RequireAuthorization();
        group.MapGet("/clusters/backups", ListBackupsAsync).WithName(prefix + "clustersBackupsGet");
        group.MapGet("/clusters/backups/{backupId}", GetBackupAsync).WithName(prefix + GetBackupName);
        group.MapGet("/clusters/{clusterId}/backups", ListClusterBackupsAsync).WithName(prefix + "clusterBackupsGet");
        return group;
    }

    private static async Task<Results<Utf8JsonResult, JsonHttpResult<ClusterBackupList>>> ListBackupsAsync(HttpContext context,
        BackupListings listings, CancellationToken ct) =>
        ToResult(await listings.ListBackupsAsync(context.ApiPrincipal().Scope, PageQuery.Parse(context.Request.Query), ct), context.Request);

    private static async Task<Results<Utf8JsonResult, JsonHttpResult<BackupResponse>>> GetBackupAsync(string backupId, HttpContext context,
        BackupListings listings, CancellationToken ct)
    {
        var backup = await listings.GetBackupAsync(context.ApiPrincipal().Scope, backupId, ct);
        return backup.Json is { } json
            ? Utf8JsonResult.Document(json)
            : TypedResults.Json(ContractMapper.ToResponse(backup.Record!), ApiJsonContext.Api.BackupResponse);
    }

    private static async Task<Results<Utf8JsonResult, JsonHttpResult<ClusterBackupList>>> ListClusterBackupsAsync(string clusterId,
        HttpContext context, BackupListings listings, CancellationToken ct)
    {
        var page = PageQuery.Parse(context.Request.Query);
        return ToResult(await listings.ListClusterBackupsAsync(context.ApiPrincipal().Scope, ClusterIds.Normalize(clusterId), page, ct),
            context.Request);
    }

    /// <summary>The list in the IONOS envelope: the read model's bytes as they are, or the catalog's records serialized.</summary>
    private static Results<Utf8JsonResult, JsonHttpResult<ClusterBackupList>> ToResult(BackupListing listing, HttpRequest request) =>
        listing.Items is { } items
            ? Utf8JsonResult.List(listing.Id, items, request)
            : TypedResults.Json(ContractMapper.ToList(listing.Id, listing.Records!, request), ApiJsonContext.Api.ClusterBackupList);
}
