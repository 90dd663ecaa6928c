using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Contracts;
using PgVault.Errors;
using PgVault.Hosting;

namespace PgVault.Api.Endpoints;

/// <summary>Health and readiness, the OpenAPI document, and the benchmark's ceiling endpoint.</summary>
public static class ServiceEndpoints
{
    private static readonly Lazy<byte[]> OpenApiDocument = new(() =>
    {
        using var stream = typeof(ServiceEndpoints).Assembly.GetManifestResourceStream("PgVault.openapi.json")
                           ?? throw new InvalidOperationException("the OpenAPI document is not embedded in pgvault");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static void MapServiceEndpoints(this IEndpointRouteBuilder routes, bool benchmarkEndpoint)
    {
        routes.MapGet("/healthz", () => TypedResults.Json(new HealthResponse("ok"), ApiJsonContext.Api.HealthResponse))
            .AllowAnonymous();
        routes.MapGet("/readyz", ReadyAsync).AllowAnonymous();
        routes.MapGet("/openapi.json", () => TypedResults.Bytes(OpenApiDocument.Value, "application/json"))
            .RequireAuthorization();
        if (benchmarkEndpoint)
            routes.MapGet("/bench/ceiling", Ceiling).RequireAuthorization();
    }

    /// <summary>200 when the catalog and every location answer, 503 otherwise. Each check (with the failure's reason,
    /// which may name paths and storage errors) is shown only to a principal granted every cluster; anyone else, an
    /// anonymous probe included, gets the status alone.</summary>
    private static async Task<JsonHttpResult<ReadinessResponse>> ReadyAsync(Readiness readiness, HttpContext context)
    {
        var result = await readiness.CheckAsync().ConfigureAwait(false);
        context.Response.Headers.CacheControl = "no-store";
        var status = result.Checks!.All(c => c.Reason is null) ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        var detailed = context.Items[typeof(ApiPrincipal)] is ApiPrincipal { Scope.IsAll: true };
        return TypedResults.Json(detailed ? result : result with { Checks = null }, ApiJsonContext.Api.ReadinessResponse, statusCode: status);
    }

    /// <summary>A fixed JSON body of the requested size: the most any endpoint of this server could serve.</summary>
    private static FileContentHttpResult Ceiling(int? bytes)
    {
        var size = bytes ?? 1024;
        if (size is < 16 or > 4 * 1024 * 1024)
            throw new PgVaultException(ErrorCode.InvalidParameter, "query parameter 'bytes' must be from 16 to 4194304");
        return TypedResults.Bytes(CeilingBodies.Get(size), "application/json");
    }

    internal static class CeilingBodies
    {
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte[]> Cache = new();

        /// <summary>Bodies kept at most: a benchmark uses a few sizes; a client asking for every size gets them built
        /// each time instead of filling memory.</summary>
        public const int MaxCached = 8;

        public static byte[] Get(int size)
        {
            if (Cache.TryGetValue(size, out var body))
                return body;
            body = Build(size);
            if (Cache.Count < MaxCached)
                Cache.TryAdd(size, body);
            return body;
        }

        public static int Count => Cache.Count;

        private static byte[] Build(int n)
        {
            var sb = new StringBuilder(n);
            sb.Append("{\"pad\":\"");
            sb.Append('x', n - 10);
            sb.Append("\"}");
            return Encoding.ASCII.GetBytes(sb.ToString());
        }
    }
}
