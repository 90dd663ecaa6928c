using Microsoft.AspNetCore.Diagnostics;
using PgVault.Errors;

namespace PgVault.Api.Errors;

/// <summary>
/// Gives every bodiless 4xx/5xx produced by the framework (no route, wrong method, unsupported media type, binding
/// failure) the ErrorResponse body.
/// </summary>
public static class StatusCodeErrors
{
    public static Task WriteAsync(StatusCodeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var http = context.HttpContext;
        var status = http.Response.StatusCode;
        var code = ErrorCode.ForHttpStatus(status);
        var message = status switch
        {
            404 => $"no endpoint at '{http.Request.Path}'",
            405 => $"method {http.Request.Method} is not allowed on '{http.Request.Path}'",
            415 => $"content type '{http.Request.ContentType}' is not supported; send application/json",
            400 => "the request could not be read: check its parameters and body",
            _ => code.Title,
        };
        return ErrorWriter.WriteAsync(http, code, message, status);
    }
}
