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
/// cluster's active backup now and answers 202 with that base backup (BUSY), its <c>Location</c> the base backup's own
/// resource (<c>/clusters/backups/{backupId}/basebackups/{label}</c>).
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

    private static async Task<Results<Accepted<BaseBackupResponse>, NotFound<ErrorResponse>, Conflict<ErrorResponse>>> StartBaseBackupAsync(
        string clusterId, HttpContext context, BaseBackupActions actions, CancellationToken ct)
    {
        var result = await actions.StartAsync(context.ApiPrincipal().Scope, ClusterIds.Normalize(clusterId), ct);
        return result switch
        {
            ActionResult<BaseBackupRecord>.Accepted started => TypedResults.Accepted(
                ApiRoutes.BaseBackup(context, started.Value.BackupId, started.Value.Label),
                ContractMapper.ToResponse(started.Value, Engine.Repository.BaseBackupMetadata.FullType, keep: false, annotations: null)),
            ActionResult<BaseBackupRecord>.Conflict conflict => TypedResults.Conflict(ErrorWriter.Create(ErrorCode.Conflict, conflict.Message)),
            var other => TypedResults.NotFound(ErrorWriter.Create(ErrorCode.NotFound, ((ActionResult<BaseBackupRecord>.NotFound)other).Message)),
        };
    }
}
