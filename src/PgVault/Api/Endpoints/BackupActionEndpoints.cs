using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Actions;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Api.Errors;
using PgVault.Api.Limits;
using PgVault.Catalog;
using PgVault.Engine.Repository;
using PgVault.Errors;

namespace PgVault.Api.Endpoints;

/// <summary>
/// PgVault's extension to the IONOS API: <c>POST /clusters/{clusterId}/backups</c> starts a base backup of the
/// cluster's active backup now and answers 202 with that base backup (BUSY), its <c>Location</c> the base backup's own
/// resource (<c>/clusters/backups/{backupId}/basebackups/{label}</c>). The base backup's type (<c>full</c>, <c>diff</c>,
/// <c>incr</c>) is given as <c>?type=</c> or in a JSON body <c>{"type": "incr"}</c>, or left to the cluster's default.
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
        var type = await ReadTypeAsync(context.Request, ct);
        var result = await actions.StartAsync(context.ApiPrincipal().Scope, ClusterIds.Normalize(clusterId), type, ct);
        return result switch
        {
            ActionResult<BaseBackupResponse>.Accepted started => TypedResults.Accepted(
                ApiRoutes.BaseBackup(context, started.Value.Properties.BackupId, started.Value.Properties.Label), started.Value),
            ActionResult<BaseBackupResponse>.Conflict conflict => TypedResults.Conflict(ErrorWriter.Create(ErrorCode.Conflict, conflict.Message)),
            var other => TypedResults.NotFound(ErrorWriter.Create(ErrorCode.NotFound, ((ActionResult<BaseBackupResponse>.NotFound)other).Message)),
        };
    }

    /// <summary>
    /// The type asked for: <c>?type=</c> and/or the body's <c>type</c> (the two must agree); null when neither is given.
    /// A body, when there is one, must be a JSON object.
    /// </summary>
    private static async Task<BaseBackupType?> ReadTypeAsync(HttpRequest request, CancellationToken ct)
    {
        string? fromQuery = null;
        if (request.Query.TryGetValue("type", out var values))
        {
            if (values.Count != 1)
                throw new PgVaultException(ErrorCode.InvalidParameter, $"query parameter 'type' was given {values.Count} times; give it once");
            fromQuery = values[0];
        }

        string? fromBody = null;
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            if (request.ContentType is not { } contentType || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
                throw new PgVaultException(ErrorCode.UnsupportedMediaType, "the request body must be JSON (Content-Type: application/json)");
            try
            {
                var body = await JsonSerializer.DeserializeAsync(request.Body, ApiJsonContext.Api.CreateBaseBackupRequest, ct)
                           ?? throw new PgVaultException(ErrorCode.MalformedRequest, "the request body must be a JSON object such as {\"type\": \"incr\"}");
                fromBody = body.Type;
            }
            catch (JsonException ex)
            {
                throw new PgVaultException(ErrorCode.MalformedRequest, $"the request body is not valid JSON: {ex.Message}");
            }
        }

        if (fromQuery is not null && fromBody is not null && !string.Equals(fromQuery, fromBody, StringComparison.OrdinalIgnoreCase))
            throw new PgVaultException(ErrorCode.InvalidParameter, $"the type is '{fromQuery}' in the query but '{fromBody}' in the body; give one");
        var text = fromQuery ?? fromBody;
        if (text is null)
            return null;
        return BaseBackupTypes.Parse(text)
               ?? throw new PgVaultException(ErrorCode.InvalidParameter, $"type '{text}' is not a base backup type: give full, diff or incr");
    }
}
