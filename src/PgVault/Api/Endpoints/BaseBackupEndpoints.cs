using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Api.Queries;
using PgVault.Catalog;

namespace PgVault.Api.Endpoints;

/// <summary>
/// PgVault's extension: the base backups of a backup, <c>GET /clusters/backups/{backupId}/basebackups</c> (the IONOS list
/// envelope, newest first) and <c>GET /clusters/backups/{backupId}/basebackups/{label}</c>, authorised as the backup is.
/// </summary>
public static class BaseBackupEndpoints
{
    /// <summary>The name of <c>GET /clusters/backups/{backupId}/basebackups/{label}</c> (after the group's prefix).</summary>
    public const string GetBaseBackupName = "clustersBackupsBaseBackupsFindByLabel";

    public static RouteGroupBuilder MapBaseBackupEndpoints(this IEndpointRouteBuilder routes, string prefix)
    {
        var group = routes.MapGroup(prefix).RequireAuthorization();
        group.MapGet("/clusters/backups/{backupId}/basebackups", ListAsync).WithName(prefix + "clustersBackupsBaseBackupsGet");
        group.MapGet("/clusters/backups/{backupId}/basebackups/{label}", GetAsync).WithName(prefix + GetBaseBackupName);
        return group;
    }

    private static async Task<JsonHttpResult<BaseBackupList>> ListAsync(string backupId, HttpContext context, BaseBackupListings listings,
        CancellationToken ct)
    {
        var page = await listings.ListAsync(context.ApiPrincipal().Scope, backupId, PageQuery.Parse(context.Request.Query), ct);
        return TypedResults.Json(ToList(backupId, page, context.Request), ApiJsonContext.Api.BaseBackupList);
    }

    private static async Task<JsonHttpResult<BaseBackupResponse>> GetAsync(string backupId, string label, HttpContext context,
        BaseBackupListings listings, CancellationToken ct)
    {
        var view = await listings.GetAsync(context.ApiPrincipal().Scope, backupId, label, ct);
        return TypedResults.Json(ToResponse(view), ApiJsonContext.Api.BaseBackupResponse);
    }

    internal static BaseBackupResponse ToResponse(BaseBackupView view) =>
        ContractMapper.ToResponse(view.Record, view.Type, view.Annotation?.Keep == true, view.Annotation?.Annotations);

    private static BaseBackupList ToList(string backupId, Page<BaseBackupView> page, HttpRequest request) =>
        new("collection", backupId, [.. page.Items.Select(ToResponse)], page.Offset, page.Limit,
            ContractMapper.Links(request, page.Offset, page.Limit, page.HasMore));
}
