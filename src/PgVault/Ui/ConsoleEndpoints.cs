using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using PgVault.Api.Auth;
using PgVault.Api.Errors;
using PgVault.Errors;

namespace PgVault.Ui;

/// <summary>
/// The web console: <c>GET /ui/</c> and its files (embedded in pgvault, nothing fetched from elsewhere), and its session,
/// <c>/ui/api/session</c>. The page reads and acts through the API's own endpoints with the session cookie, so what a
/// principal sees and may do is decided where the API decides it. Every answer under <c>/ui</c> carries the
/// <see cref="ContentSecurityPolicy"/> (no inline script or style, no framing) and <c>X-Content-Type-Options: nosniff</c>.
/// </summary>
public static class ConsoleEndpoints
{
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private const string ResourcePrefix = "PgVault.ui/";

    private static readonly Lazy<FrozenDictionary<string, Asset>> Assets = new(LoadAssets);

    public static void MapConsoleEndpoints(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/ui").AddEndpointFilter(async (context, next) =>
        {
            SecurityHeaders(context.HttpContext.Response);
            return await next(context).ConfigureAwait(false);
        });
        // "/ui" and "/ui/" reach the same endpoint: the page's relative links need the slash.
        group.MapGet("/", (HttpContext context) => context.Request.Path.Value?.EndsWith('/') == true
            ? Serve(context, "index.html")
            : TypedResults.Redirect(context.Request.PathBase + "/ui/")).AllowAnonymous();
        group.MapGet("/{file}", (string file, HttpContext context) => Serve(context, file)).AllowAnonymous();
        group.MapGet("/api/session", GetSession).AllowAnonymous();
        group.MapPost("/api/session", SignIn).RequireAuthorization().WithMetadata(new AuditedAction("console.sign-in"));
        group.MapDelete("/api/session", SignOut).AllowAnonymous();
        group.MapGet("/api/status", GetStatus).RequireAuthorization();
    }

    /// <summary>The headers every console answer carries (the API's JSON answers need none of them).</summary>
    public static void SecurityHeaders(HttpResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.XFrameOptions = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers["Cross-Origin-Opener-Policy"] = "same-origin";
    }

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Assets.Value.TryGetValue(file, out var asset))
            throw new PgVaultException(ErrorCode.RouteNotFound, $"no console file '{file}'");
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers.ETag = asset.ETag;
        if (context.Request.Headers.IfNoneMatch.Contains(asset.ETag, StringComparer.Ordinal))
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return TypedResults.Bytes(asset.Content, asset.ContentType);
    }

    /// <summary>Who is signed in by the session cookie (and its CSRF token), or <c>signedIn: false</c>: never a 401, so
    /// loading the page logs no error in the browser.</summary>
    private static JsonHttpResult<ConsoleSessionResponse> GetSession(HttpContext context)
    {
        context.Response.Headers.CacheControl = "no-store";
        return context.Items[typeof(ConsoleSession)] is ConsoleSession session
            ? TypedResults.Json(ToResponse(session), UiJsonContext.Default.ConsoleSessionResponse)
            : TypedResults.Json(new ConsoleSessionResponse(false, null, null, null), UiJsonContext.Default.ConsoleSessionResponse);
    }

    /// <summary>
    /// Signs in with the API's own credentials: the page sends them once, in the <c>Authorization</c> header, where the API's
    /// authentication handler verifies them (the failed-login throttle and the audit log included); the answer sets the
    /// session cookie and gives the page the session's CSRF token. The page keeps neither the credentials nor the token
    /// anywhere but in memory.
    /// </summary>
    private static Results<JsonHttpResult<ConsoleSessionResponse>, JsonHttpResult<Api.Contracts.ErrorResponse>> SignIn(
        HttpContext context, ConsoleSessions sessions)
    {
        context.Response.Headers.CacheControl = "no-store";
        if (!sessions.Enabled)
            throw new PgVaultException(ErrorCode.RouteNotFound, "the console is turned off (PgVault:Api:Console:Enabled)");
        if (context.Items.ContainsKey(typeof(ConsoleSession)))
        {
            return TypedResults.Json(ErrorWriter.Create(ErrorCode.MalformedRequest,
                "sign in with credentials in the Authorization header, not with a session"),
                Api.Contracts.ApiJsonContext.Api.ErrorResponse, statusCode: StatusCodes.Status400BadRequest);
        }

        // A new id at every sign-in: a cookie planted before it is worth nothing after.
        sessions.Remove(context.Request.Cookies[ConsoleSessions.CookieName]);
        var (cookie, session) = sessions.Create(context.ApiPrincipal());
        ConsoleSessions.SetCookie(context, cookie);
        return TypedResults.Json(ToResponse(session), UiJsonContext.Default.ConsoleSessionResponse);
    }

    /// <summary>Ends the session of the cookie (with a session, only with its CSRF token: see <see cref="ConsoleCsrf"/>).</summary>
    private static NoContent SignOut(HttpContext context, ConsoleSessions sessions)
    {
        context.Response.Headers.CacheControl = "no-store";
        sessions.Remove(context.Request.Cookies[ConsoleSessions.CookieName]);
        ConsoleSessions.DeleteCookie(context);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// What this instance's backup engine knows of clusters (<c>?cluster=ID</c>, repeated, at most 100) beyond the API:
    /// whether WAL streams, the WAL lag, and until when the active backup's history is durable (its recovery window's
    /// end). Clusters not granted, unknown, or backed up by another instance are left out, exactly as if they did not exist.
    /// </summary>
    private static JsonHttpResult<ConsoleStatusResponse> GetStatus(HttpContext context, Hosting.BackupEngine engine, TimeProvider time)
    {
        context.Response.Headers.CacheControl = "no-store";
        var scope = context.ApiPrincipal().Scope;
        var now = time.GetUtcNow();
        var items = new List<ConsoleClusterStatus>();
        foreach (var raw in context.Request.Query["cluster"].Take(100))
        {
            if (string.IsNullOrEmpty(raw))
                continue;
            var id = Api.Endpoints.ClusterIds.Normalize(raw);
            if (!scope.Allows(id) || engine.Find(id) is not { Chain.Current: { } current } worker)
                continue;
            var windowEnd = current.EarliestRecoveryTargetTime is null ? null
                : Api.Contracts.ContractMapper.Timestamp(Hosting.EngineGauges.DurableUntil(worker, now));
            items.Add(new ConsoleClusterStatus(id, worker.Chain.Streaming, (long)(Hosting.EngineGauges.LagBytes(worker) ?? 0),
                Math.Round(Math.Max(0, (now - Hosting.EngineGauges.DurableUntil(worker, now)).TotalSeconds), 1), windowEnd));
        }

        return TypedResults.Json(new ConsoleStatusResponse(items), UiJsonContext.Default.ConsoleStatusResponse);
    }

    private static ConsoleSessionResponse ToResponse(ConsoleSession session) =>
        new(true, session.Principal.Name, session.CsrfToken, session.Principal.Scope.IsAll);

    private static FrozenDictionary<string, Asset> LoadAssets()
    {
        var assembly = typeof(ConsoleEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var file = name[ResourcePrefix.Length..];
            var etag = "\"" + Convert.ToHexString(SHA256.HashData(content), 0, 12) + "\"";
            assets[file] = new Asset(content, ContentType(file), etag);
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentType(string file) => Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "text/plain; charset=utf-8",
    };

    private sealed record Asset(byte[] Content, string ContentType, string ETag);
}

/// <summary>The backup engine's view of clusters this instance backs up (<c>GET /ui/api/status</c>).</summary>
public sealed record ConsoleStatusResponse(IReadOnlyList<ConsoleClusterStatus> Items);

/// <summary>One cluster: WAL streaming, the WAL lag (bytes, and seconds since the history is durable), the window's end.</summary>
public sealed record ConsoleClusterStatus(string ClusterId, bool Streaming, long WalLagBytes, double WalLagSeconds, string? WindowEnd);

/// <summary>The console's session as the page sees it: who is signed in, the CSRF token, whether every cluster is granted.</summary>
public sealed record ConsoleSessionResponse(bool SignedIn, string? Name, string? CsrfToken, bool? AllClusters);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ConsoleSessionResponse))]
[JsonSerializable(typeof(ConsoleStatusResponse))]
internal sealed partial class UiJsonContext : JsonSerializerContext;

/// <summary>
/// CSRF protection of the session cookie: a request authenticated by the cookie that may change state (any method but
/// GET, HEAD and OPTIONS) must carry the session's token in <see cref="ConsoleSessions.CsrfHeader"/>, which another site
/// can neither read nor set; otherwise 403, before any endpoint runs. Requests with an <c>Authorization</c> header are
/// not cookie-authenticated and are not affected.
/// </summary>
public sealed class ConsoleCsrf(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Items[typeof(ConsoleSession)] is not ConsoleSession session || HttpMethods.IsGet(context.Request.Method)
            || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method))
        {
            return next(context);
        }

        var sent = context.Request.Headers[ConsoleSessions.CsrfHeader];
        if (sent.Count == 1 && session.IsCsrfToken(sent[0]))
            return next(context);
        return ErrorWriter.WriteAsync(context, ErrorCode.Forbidden,
            $"a request signed in by the console's session cookie must send its CSRF token in {ConsoleSessions.CsrfHeader}");
    }
}
