using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Actions;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Api.Errors;
using PgVault.Api.Limits;
using PgVault.Errors;

namespace PgVault.Api.Endpoints;

/// <summary>
/// The IONOS in-place restore: <c>POST /clusters/{clusterId}/restore</c> with a <c>CreateRestoreRequest</c>
/// (<c>backupId</c>, optional <c>recoveryTargetTime</c>) answers 202 Accepted once the request is checked; the restore
/// runs in the background while <c>GET /clusters/{clusterId}</c> shows the cluster BUSY.
/// </summary>
public static partial class RestoreEndpoints
{
    public static RouteGroupBuilder MapRestoreEndpoints(this IEndpointRouteBuilder routes, string prefix)
    {
        var group = routes.MapGroup(prefix).RequireAuthorization().WithMetadata(new ApiRoutePrefix(prefix));
        group.MapPost("/clusters/{clusterId}/restore", RestoreAsync).WithName(prefix + "clusterRestorePost")
            .WithMetadata(new AuditedAction("restore.start"), new RequestBodyLimit(RequestBodyLimits.ActionBytes));
        return group;
    }

    private static async Task<Results<Accepted, NotFound<ErrorResponse>, Conflict<ErrorResponse>>> RestoreAsync(string clusterId,
        HttpContext context, RestoreActions actions, CancellationToken ct)
    {
        var result = await actions.StartAsync(context.ApiPrincipal().Scope, ClusterIds.Normalize(clusterId), c => ReadRequestAsync(context, c), ct);
        return result switch
        {
            // The cluster's path as the client wrote its id: it follows the restore through GET /clusters/{clusterId}.
            ActionResult<RestoreRequest>.Accepted => TypedResults.Accepted(ApiRoutes.Cluster(context, clusterId)),
            ActionResult<RestoreRequest>.Conflict conflict => TypedResults.Conflict(ErrorWriter.Create(ErrorCode.Conflict, conflict.Message)),
            var other => TypedResults.NotFound(ErrorWriter.Create(ErrorCode.NotFound, ((ActionResult<RestoreRequest>.NotFound)other).Message)),
        };
    }

    /// <summary>Binds and checks the body: a <c>CreateRestoreRequest</c> with <c>backupId</c> and an optional RFC 3339 time.</summary>
    private static async Task<RestoreRequest> ReadRequestAsync(HttpContext context, CancellationToken ct)
    {
        var body = await ReadBodyAsync(context, ct);
        if (string.IsNullOrWhiteSpace(body.BackupId))
            throw new PgVaultException(ErrorCode.MalformedRequest, "the request body needs 'backupId'");
        return new RestoreRequest(body.BackupId, body.RecoveryTargetTime is { } t ? ParseTargetTime(t) : null);
    }

    /// <summary>An RFC 3339 date-time (the spec's <c>format: date-time</c>), as UTC. Anything else (a bare date, a
    /// weekday, a local time without offset) is refused, and the message does not repeat what was sent.</summary>
    internal static DateTimeOffset ParseTargetTime(string text)
    {
        if (!Rfc3339().IsMatch(text)
            || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            throw new PgVaultException(ErrorCode.MalformedRequest,
                "'recoveryTargetTime' is not an RFC 3339 date-time such as 2026-11-01T08:30:00Z or 2026-11-01T09:30:00.5+01:00");
        }

        return parsed.ToUniversalTime();
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
        System.Text.RegularExpressions.RegexOptions.CultureInvariant | System.Text.RegularExpressions.RegexOptions.ExplicitCapture, 1000)]
    private static partial System.Text.RegularExpressions.Regex Rfc3339();

    private static async Task<CreateRestoreRequest> ReadBodyAsync(HttpContext context, CancellationToken ct)
    {
        if (context.Request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new PgVaultException(ErrorCode.UnsupportedMediaType, "the request body must be JSON (Content-Type: application/json)");
        try
        {
            return await JsonSerializer.DeserializeAsync(context.Request.Body, ApiJsonContext.Api.CreateRestoreRequest, ct)
                   ?? throw new PgVaultException(ErrorCode.MalformedRequest, "the request body must be a CreateRestoreRequest object");
        }
        catch (JsonException ex)
        {
            throw new PgVaultException(ErrorCode.MalformedRequest, $"the request body is not valid JSON: {ex.Message}");
        }
    }
}
