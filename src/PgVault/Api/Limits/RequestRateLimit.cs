using PgVault.Api.Auth;
using PgVault.Api.Errors;
using PgVault.Configuration;
using PgVault.Errors;

namespace PgVault.Api.Limits;

/// <summary>
/// <c>RateLimit:PermitsPerSecond</c> / <c>RateLimit:Burst</c>: a token bucket per principal (per client address before
/// authentication), refilled at exactly the configured rate. Over it: 429 with <c>Retry-After</c>. Probes and scrapes
/// (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>) are never refused: a 429 there would look like an outage.
/// </summary>
public sealed class RequestRateLimit(RequestDelegate next, PgVaultOptions options, TimeProvider time)
{
    private readonly TokenBuckets? _buckets = options.RateLimit.PermitsPerSecond > 0
        ? new TokenBuckets(options.RateLimit.PermitsPerSecond, options.RateLimit.Burst, 100_000, time)
        : null;

    public Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var path = context.Request.Path;
        if (_buckets is null || path.StartsWithSegments("/healthz", StringComparison.Ordinal)
            || path.StartsWithSegments("/readyz", StringComparison.Ordinal) || path.StartsWithSegments("/metrics", StringComparison.Ordinal))
        {
            return next(context);
        }

        var key = context.Items[typeof(ApiPrincipal)] is ApiPrincipal p ? "principal:" + p.Name : "address:" + Audit.ClientAddress(context);
        if (_buckets.TryTake(key, out var retryAfter))
            return next(context);
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return ErrorWriter.WriteAsync(context, ErrorCode.RateLimited, $"request rate limit exceeded; retry after {seconds} s");
    }
}
