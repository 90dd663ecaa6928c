using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Catalog;

namespace PgVault.Api.Endpoints;

/// <summary><c>GET /clusters</c> and <c>GET /clusters/{clusterId}</c> in the IONOS shape, so clients can find cluster ids.</summary>
public static class ClusterEndpoints
{
    /// <summary>The name of <c>GET /clusters/{clusterId}</c> (after the group's prefix).</summary>
    public const string GetClusterName = "clustersFindById";

    public static RouteGroupBuilder MapClusterEndpoints(this IEndpointRouteBuilder routes, string prefix)
    {
        var group = routes.MapGroup(prefix).RequireAuthorization();
        group.MapGet("/clusters", ListClustersAsync).WithName(prefix + "clustersGet");
        group.MapGet("/clusters/{clusterId}", GetClusterAsync).WithName(prefix + GetClusterName);
        return group;
    }

    private static async Task<JsonHttpResult<ClusterList>> ListClustersAsync(HttpContext context, CatalogQueries queries, CancellationToken ct)
    {
        var page = PageQuery.Parse(context.Request.Query);
        var result = await queries.ListClustersAsync(context.ApiPrincipal().Scope, page, NameFilter(context.Request.Query), ct);
        return TypedResults.Json(ContractMapper.ToList(result, context.Request), ApiJsonContext.Api.ClusterList);
    }

    /// <summary>The IONOS clients' <c>filter.name</c>: clusters whose display name contains it, case-insensitively.</summary>
    private static string? NameFilter(IQueryCollection query)
    {
        if (!query.TryGetValue("filter.name", out var values))
            return null;
        if (values.Count != 1)
            throw new PgVault.Errors.PgVaultException(PgVault.Errors.ErrorCode.InvalidParameter,
                $"query parameter 'filter.name' must be given once: it was given {values.Count} times");
        return values[0];
    }

    private static async Task<JsonHttpResult<ClusterResponse>> GetClusterAsync(string clusterId, HttpContext context, CatalogQueries queries,
        CancellationToken ct)
    {
        var cluster = await queries.GetClusterAsync(context.ApiPrincipal().Scope, ClusterIds.Normalize(clusterId), ct);
        return TypedResults.Json(ContractMapper.ToResponse(cluster), ApiJsonContext.Api.ClusterResponse);
    }
}
