using PgVault.Errors;

namespace PgVault.Api.Auth;

/// <summary>
/// The audit log: one structured event (category <c>PgVault.Audit</c>) for every state-changing request (an on-demand
/// base backup, an in-place restore) and every failed authentication, with the principal, the client address, the
/// cluster and the outcome as fields (<c>State</c> of the JSON log). Events carry no credential: a failed HTTP Basic
/// login names the user name tried, never the password; a failed token names nothing of the token.
/// </summary>
public static class Audit
{
    public const string Category = "PgVault.Audit";

    /// <summary>Attempted user names longer than this are cut in the log (a header can hold kilobytes).</summary>
    private const int MaxLoggedName = 64;

    public static void AuthenticationFailed(ILogger logger, HttpContext context, string scheme, string? userName, string outcome)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(context);
        logger.LogWarning("audit: authentication failed ({Outcome}) for {Principal} by {Scheme} from {ClientAddress} on {Method} {Path}",
            outcome, userName is null ? "-" : Cut(userName), scheme, ClientAddress(context), context.Request.Method,
            context.Request.Path.Value);
    }

    public static void Action(ILogger logger, HttpContext context, string action, string? cluster, int status)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(context);
        var principal = context.Items[typeof(ApiPrincipal)] is ApiPrincipal p ? p.Name : "-";
        var outcome = status < 400 ? "accepted" : "refused";
        logger.LogInformation("audit: {Action} of cluster {Cluster} by {Principal} from {ClientAddress}: {Outcome} ({Status})",
            action, cluster is null ? "-" : Cut(cluster), principal, ClientAddress(context), outcome, status);
    }

    /// <summary>The client's address as the server sees it (the proxy's, behind a reverse proxy that is not trusted).</summary>
    public static string ClientAddress(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var address = context.Connection.RemoteIpAddress;
        if (address is null)
            return "unknown";
        return (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();
    }

    private static string Cut(string text) => text.Length <= MaxLoggedName ? text : text[..MaxLoggedName] + "…";
}

/// <summary>Marks an endpoint whose requests the audit log records, naming the action (<c>backup.start</c>).</summary>
public sealed record AuditedAction(string Name);

/// <summary>Writes the audit event of every request to an endpoint marked with <see cref="AuditedAction"/>, after it
/// answered (so the outcome is the status sent).</summary>
public sealed class AuditLogging(RequestDelegate next, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger(Audit.Category);

    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var action = context.GetEndpoint()?.Metadata.GetMetadata<AuditedAction>();
        if (action is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        int? status = null;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The exception handler (outside) turns it into the status sent.
            status = ex switch
            {
                PgVaultException pv => pv.Code.HttpStatus,
                BadHttpRequestException bad => bad.StatusCode,
                _ => StatusCodes.Status500InternalServerError,
            };
            throw;
        }
        finally
        {
            Audit.Action(_logger, context, action.Name, context.Request.RouteValues["clusterId"] as string,
                status ?? context.Response.StatusCode);
        }
    }
}
