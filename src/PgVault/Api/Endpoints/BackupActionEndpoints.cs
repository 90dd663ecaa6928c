using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Actions;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Api.Errors;
using PgVault.Api.Limits;
using PgVault.Catalog;
using PgVault.Errors;

namespace PgVault.Api.Endpoints;

/// <summary>
/// PgVault's extension to the IONOS API: <c>POST /clusters/{clusterId}/backups</c> starts a base backup of the
/// cluster's active backup now and answers 202 with that backup.
/// </summary>
public static class BackupActionEndpoints
{
    public static RouteGroupBuilder MapBackupActionEndpoints(this IEndpointRouteBuilder routes, string prefix)
    {
        var group = routes.MapGroup(prefix).RequireAuthorization().WithMetadata(new ApiRoutePrefix(prefix));
        group.MapPost("/clusters/{clusterId}/backups", StartBaseBackupAsync).WithName(prefix + "clusterBackupsPost")
            .WithMetadata(new AuditedAction("backup.start"), new RequestBodyLimit(RequestBodyLimits.ActionBytes));
        return group;
    }

    private static async Task<Results<Accepted<BackupResponse>, NotFound<ErrorResponse>, Conflict<ErrorResponse>>> StartBaseBackupAsync(
        string clusterId, HttpContext context, BaseBackupActions actions, CancellationToken ct)
    {
        var result = await actions.StartAsync(context.ApiPrincipal().Scope, ClusterIds.Normalize(clusterId), ct);
        return result switch
        {
            ActionResult<BackupRecord>.Accepted started => TypedResults.Accepted(ApiRoutes.Backup(context, started.Value.Id),
                ContractMapper.ToResponse(started.Value)),
            ActionResult<BackupRecord>.Conflict conflict => TypedResults.Conflict(ErrorWriter.Create(ErrorCode.Conflict, conflict.Message)),
            var other => TypedResults.NotFound(ErrorWriter.Create(ErrorCode.NotFound, ((ActionResult<BackupRecord>.NotFound)other).Message)),
        };
    }
}
