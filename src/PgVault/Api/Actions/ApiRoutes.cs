using PgVault.Api.Endpoints;

namespace PgVault.Api.Actions;

/// <summary>The path prefix a route group is mapped under (<c>""</c> or <c>/databases/postgresql</c>), as endpoint metadata.</summary>
public sealed record ApiRoutePrefix(string Value);

/// <summary>Paths to the API's own resources, built from route names and values (never by cutting the request path).</summary>
public static class ApiRoutes
{
    /// <summary>
    /// The path (with the request's path base) of the endpoint named <paramref name="name"/> under the prefix the current
    /// request came in by, with <paramref name="values"/> as its route values.
    /// </summary>
    public static string PathOf(HttpContext context, string name, RouteValueDictionary values)
    {
        ArgumentNullException.ThrowIfNull(context);
        var prefix = context.GetEndpoint()?.Metadata.GetMetadata<ApiRoutePrefix>()?.Value ?? "";
        var links = context.RequestServices.GetRequiredService<LinkGenerator>();
        return links.GetPathByName(context, prefix + name, values)
               ?? throw new InvalidOperationException($"no endpoint named '{prefix + name}' takes the values {string.Join(", ", values.Keys)}");
    }

    /// <summary><c>GET /clusters/{clusterId}</c>.</summary>
    public static string Cluster(HttpContext context, string clusterId) =>
        PathOf(context, ClusterEndpoints.GetClusterName, new RouteValueDictionary { ["clusterId"] = clusterId });

    /// <summary><c>GET /clusters/backups/{backupId}/basebackups/{label}</c>.</summary>
    public static string BaseBackup(HttpContext context, string backupId, string label) =>
        PathOf(context, BaseBackupEndpoints.GetBaseBackupName, new RouteValueDictionary { ["backupId"] = backupId, ["label"] = label });
}
