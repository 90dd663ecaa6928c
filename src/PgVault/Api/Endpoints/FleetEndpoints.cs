using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Errors;
using PgVault.Hosting;

namespace PgVault.Api.Endpoints;

/// <summary><c>GET /fleet</c> (a PgVault extension): the instances, their heartbeat age and the clusters each backs up.</summary>
public static class FleetEndpoints
{
    public static void MapFleetEndpoints(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/fleet", GetFleetAsync).RequireAuthorization();

    /// <summary>For a principal granted every cluster (it names them all); anyone else gets 403.</summary>
    private static async Task<JsonHttpResult<FleetResponse>> GetFleetAsync(HttpContext context, FleetStatus fleet, CancellationToken ct)
    {
        if (!context.ApiPrincipal().Scope.IsAll)
            throw new PgVaultException(ErrorCode.Forbidden, "GET /fleet is for principals granted every cluster ('*')");
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Json(await fleet.GetAsync(ct).ConfigureAwait(false), ApiJsonContext.Api.FleetResponse);
    }
}
