using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using PgVault.Api.Errors;
using PgVault.Errors;

namespace PgVault.Api.Auth;

/// <summary>
/// HTTP Basic and <c>Authorization: Bearer &lt;token&gt;</c>, the two IONOS security schemes. A challenge answers 401 with
/// <c>WWW-Authenticate</c> for both schemes and an IONOS ErrorResponse body. Credentials are never logged.
/// </summary>
public sealed class PgVaultAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    CredentialStore credentials)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "PgVault";
    public const string ClusterClaim = "pgvault:cluster";
    private const string FailureKey = "pgvault.auth.failure";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization;
        if (header.Count == 0)
            return Task.FromResult(AuthenticateResult.NoResult());
        if (header.Count > 1)
            return FailAsync("more than one Authorization header was sent");

        var value = header[0] ?? "";
        ApiPrincipal? principal;
        if (value.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            if (!TryDecodeBasic(value.AsSpan(6).Trim(), out var user, out var password))
                return FailAsync("malformed Basic credentials: expected base64 of 'username:password'");
            principal = credentials.VerifyPassword(user, password);
            if (principal is null)
                return FailAsync("invalid username or password");
        }
        else if (value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = value[7..].Trim();
            if (token.Length == 0)
                return FailAsync("malformed Bearer credentials: the token is empty");
            principal = credentials.VerifyToken(token);
            if (principal is null)
                return FailAsync("invalid or revoked token");
        }
        else
        {
            return FailAsync("unsupported Authorization scheme: use 'Basic' or 'Bearer'");
        }

        var identity = new ClaimsIdentity(SchemeName);
        identity.AddClaim(new Claim(ClaimTypes.Name, principal.Name));
        var ticket = new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName);
        Context.Items[typeof(ApiPrincipal)] = principal;
        return Task.FromResult(AuthenticateResult.Success(ticket));
    }

    private Task<AuthenticateResult> FailAsync(string reason)
    {
        Context.Items[FailureKey] = reason;
        return Task.FromResult(AuthenticateResult.Fail(reason));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.Append("WWW-Authenticate", "Basic realm=\"pgvault\", charset=\"UTF-8\"");
        Response.Headers.Append("WWW-Authenticate", "Bearer realm=\"pgvault\"");
        var reason = Context.Items[FailureKey] as string
                     ?? "authentication required: send HTTP Basic credentials or 'Authorization: Bearer <token>'";
        return ErrorWriter.WriteAsync(Context, ErrorCode.Unauthorized, reason);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ErrorWriter.WriteAsync(Context, ErrorCode.Forbidden, "the credentials do not grant access to this resource");

    private static bool TryDecodeBasic(ReadOnlySpan<char> encoded, out string user, out string password)
    {
        user = password = "";
        var buffer = new byte[((encoded.Length + 3) / 4) * 3];
        if (!Convert.TryFromBase64Chars(encoded, buffer, out var n))
            return false;
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer, 0, n);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
            return false;
        user = text[..colon];
        password = text[(colon + 1)..];
        return true;
    }
}

/// <summary>The authenticated principal of a request.</summary>
public static class PrincipalExtensions
{
    public static ApiPrincipal ApiPrincipal(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Items[typeof(ApiPrincipal)] as ApiPrincipal
               ?? throw new InvalidOperationException("no authenticated principal: the endpoint must require authorization");
    }
}
