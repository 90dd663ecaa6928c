using System.Text.Json;
using PgVault.Api.Contracts;
using PgVault.Errors;

namespace PgVault.Api.Errors;

/// <summary>Writes the IONOS ErrorResponse (<c>{httpStatus, messages:[{errorCode, message}]}</c>) as JSON.</summary>
public static class ErrorWriter
{
    public static ErrorResponse Create(ErrorCode code, string message, int? status = null) =>
        new(status ?? code.HttpStatus, [new ErrorMessage(code.Code, message)]);

    public static async Task WriteAsync(HttpContext context, ErrorCode code, string message, int? status = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(code);
        var body = Create(code, message, status);
        context.Response.StatusCode = body.HttpStatus;
        context.Response.ContentType = "application/json; charset=utf-8";
        await JsonSerializer.SerializeAsync(context.Response.Body, body, ApiJsonContext.Api.ErrorResponse, context.RequestAborted)
            .ConfigureAwait(false);
    }
}
