using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using PgVault.Api.Errors;
using PgVault.Errors;

namespace PgVault.Api.Limits;

/// <summary>
/// Request-target and header sizes. Kestrel refuses what is over its own limits with a bodiless 414 or 431 before any
/// middleware runs, so its limits are set to twice PgVault's and PgVault refuses what is over its limits itself, with
/// the ErrorResponse body: only requests more than twice the limit get Kestrel's bodiless answer (docs/SECURITY.md lists
/// every answer that cannot have the ErrorResponse shape).
/// </summary>
public sealed class RequestSizeLimits(RequestDelegate next)
{
    /// <summary>The longest request target (path and query) PgVault answers.</summary>
    public const int MaxTargetBytes = 8 * 1024;

    /// <summary>The most header bytes (names and values) PgVault answers.</summary>
    public const int MaxHeaderBytes = 32 * 1024;

    /// <summary>Kestrel's limits: twice PgVault's, so PgVault sees (and answers) what is between them.</summary>
    public static void ConfigureKestrel(KestrelServerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        limits.MaxRequestLineSize = 2 * MaxTargetBytes;
        limits.MaxRequestHeadersTotalSize = 2 * MaxHeaderBytes;
        limits.MaxRequestBodySize = RequestBodyLimits.ServerBytes;
    }

    /// <summary>Header values are read as Latin-1 (HTTP's obs-text) instead of refused in the parser when they hold a
    /// non-ASCII byte: PgVault then answers them itself (a wrong credential is a 401 ErrorResponse, not a bodiless 400).</summary>
    public static void ConfigureKestrel(KestrelServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ConfigureKestrel(options.Limits);
        options.RequestHeaderEncodingSelector = _ => System.Text.Encoding.Latin1;
    }

    public Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "";
        if (target.Length > MaxTargetBytes)
        {
            return ErrorWriter.WriteAsync(context, ErrorCode.UriTooLong,
                $"the request target is {target.Length} bytes long; at most {MaxTargetBytes} are accepted");
        }

        long headerBytes = 0;
        foreach (var (name, values) in context.Request.Headers)
        {
            headerBytes += name.Length;
            foreach (var value in values)
                headerBytes += value?.Length ?? 0;
        }

        if (headerBytes > MaxHeaderBytes)
        {
            return ErrorWriter.WriteAsync(context, ErrorCode.HeadersTooLarge,
                $"the request headers are {headerBytes} bytes long; at most {MaxHeaderBytes} are accepted");
        }

        return next(context);
    }
}
