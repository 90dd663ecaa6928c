using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Api.Limits;
using PgVault.Catalog;
using PgVault.Errors;
using PgVault.Hosting;

namespace PgVault.Api.Endpoints;

/// <summary>
/// PgVault's extension to the IONOS API: <c>POST /clusters/{clusterId}/backups</c> starts a base backup of the
/// cluster's active backup now and answers 202 with that backup.
/// </summary>
public static class BackupActionEndpoints
{
    public static RouteGroupBuilder MapBackupActionEndpoints(this IEndpointRouteBuilder routes, string prefix)
    {
        var group = routes.MapGroup(prefix).RequireAuthorization();
        group.MapPost("/clusters/{clusterId}/backups", StartBaseBackupAsync).WithName(prefix + "clusterBackupsPost")
            .WithMetadata(new AuditedAction("backup.start"), new RequestBodyLimit(RequestBodyLimits.ActionBytes));
        return group;
    }

    private static async Task<JsonHttpResult<BackupResponse>> StartBaseBackupAsync(string clusterId, HttpContext context, CatalogQueries queries,
        BackupEngine engine, PgVault.Configuration.PgVaultOptions options, IHostApplicationLifetime lifetime, CancellationToken ct)
    {
        var id = ClusterIds.Normalize(clusterId);
        await queries.GetClusterAsync(context.ApiPrincipal().Scope, id, ct); // 404 unless granted and known
        var worker = engine.Find(id);
        if (worker is null || !options.Engine.Enabled)
        {
            throw new PgVaultException(ErrorCode.ValidationFailed, $"cluster '{id}' is not backed up by this pgvault instance",
                "configure it under PgVault:Clusters and enable PgVault:Engine");
        }

        // The base backup outlives the request; it stops only with the server.
        if (!worker.TryStartBaseBackup("requested through the API", null, lifetime.ApplicationStopping))
            throw new PgVaultException(ErrorCode.Conflict, $"a base backup of cluster '{id}' is already running");
        var backup = worker.Chain.Current!;
        var path = context.Request.Path.Value!;
        var root = path[..path.LastIndexOf("/clusters/", StringComparison.Ordinal)];
        context.Response.Headers.Location = $"{context.Request.PathBase}{root}/clusters/backups/{Uri.EscapeDataString(backup.Id)}";
        return TypedResults.Json(ContractMapper.ToResponse(backup), ApiJsonContext.Api.BackupResponse, statusCode: StatusCodes.Status202Accepted);
    }
}
