using Microsoft.AspNetCore.Http.Features;
using PgVault.Api.Errors;
using PgVault.Errors;

namespace PgVault.Api.Limits;

/// <summary>Marks an endpoint whose request bodies may be at most <paramref name="Bytes"/> long (below the server's
/// <see cref="RequestBodyLimits.ServerBytes"/>).</summary>
public sealed record RequestBodyLimit(long Bytes);

/// <summary>
/// Request bodies: at most <see cref="ServerBytes"/> anywhere (Kestrel's own limit too), and an endpoint's
/// <see cref="RequestBodyLimit"/> where it has one. A declared <c>Content-Length</c> over the limit is refused with 413
/// before anything is read; a chunked body is cut off at the limit while it is read (413 as well).
/// </summary>
public sealed class RequestBodyLimits(RequestDelegate next)
{
    /// <summary>The largest request body the server reads: the API's requests are a few hundred bytes.</summary>
    public const long ServerBytes = 64 * 1024;

    /// <summary>The limit of the action endpoints (<c>POST .../backups</c>, <c>POST .../restore</c>).</summary>
    public const long ActionBytes = 8 * 1024;

    public Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var limit = context.GetEndpoint()?.Metadata.GetMetadata<RequestBodyLimit>()?.Bytes ?? ServerBytes;
        if (context.Request.ContentLength > limit)
        {
            return ErrorWriter.WriteAsync(context, ErrorCode.RequestTooLarge,
                $"the request body is {context.Request.ContentLength} bytes; this endpoint accepts at most {limit}");
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
            feature.MaxRequestBodySize = limit;
        return next(context);
    }
}
