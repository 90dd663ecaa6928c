using System.Diagnostics;
using PgVault.Api.Auth;

namespace PgVault.Hosting;

/// <summary>
/// One log line per request: method, path (never the query string or any header, so no credential can appear),
/// status, duration and the principal's name.
/// </summary>
public sealed class RequestLogging(RequestDelegate next, ILogger<RequestLogging> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            if (logger.IsEnabled(LogLevel.Information))
            {
                var principal = context.Items[typeof(ApiPrincipal)] is ApiPrincipal p ? p.Name : "-";
                logger.LogInformation("{Method} {Path} -> {Status} in {ElapsedMs:0.0} ms by {Principal}",
                    context.Request.Method, context.Request.Path.Value, context.Response.StatusCode,
                    Stopwatch.GetElapsedTime(started).TotalMilliseconds, principal);
            }
        }
    }
}
