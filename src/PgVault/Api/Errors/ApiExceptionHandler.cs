using Microsoft.AspNetCore.Diagnostics;
using PgVault.Errors;

namespace PgVault.Api.Errors;

/// <summary>
/// The API's one catch: maps <see cref="PgVaultException"/> to its code's status, framework request errors to theirs, and
/// anything else to 500 without internals (the exception is logged with the request's trace id).
/// </summary>
public sealed class ApiExceptionHandler(ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        switch (exception)
        {
            case PgVaultException pv:
                if (pv.Code.HttpStatus >= 500)
                    logger.LogError(exception, "request {Method} {Path} failed: {Message}", httpContext.Request.Method, httpContext.Request.Path, pv.Message);
                await ErrorWriter.WriteAsync(httpContext, pv.Code, pv.Hint is null ? pv.Message : $"{pv.Message} (hint: {pv.Hint})").ConfigureAwait(false);
                return true;
            case BadHttpRequestException bad:
                await ErrorWriter.WriteAsync(httpContext, ErrorCode.ForHttpStatus(bad.StatusCode), bad.Message, bad.StatusCode).ConfigureAwait(false);
                return true;
            case OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested:
                return true;
            default:
                logger.LogError(exception, "unhandled error in {Method} {Path} (trace id {TraceId})", httpContext.Request.Method,
                    httpContext.Request.Path, httpContext.TraceIdentifier);
                await ErrorWriter.WriteAsync(httpContext, ErrorCode.Internal,
                    $"internal server error; it was logged with trace id {httpContext.TraceIdentifier}").ConfigureAwait(false);
                return true;
        }
    }
}
