using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using PgVault.Api.Errors;
using PgVault.Api.Limits;
using PgVault.Errors;

namespace PgVault.Api.Auth;

/// <summary>
/// HTTP Basic and <c>Authorization: Bearer &lt;token&gt;</c>, the two IONOS security schemes. A challenge answers 401 with
/// <c>WWW-Authenticate</c> for both schemes and an IONOS ErrorResponse body. Credentials are never logged. A Basic
/// credential not verified recently passes the <see cref="LoginThrottle"/> before its slow hash is computed; a refused
/// attempt answers 429 with <c>Retry-After</c>. Every failure is an event of the <see cref="Audit"/> log.
/// </summary>
public sealed class PgVaultAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    CredentialStore credentials,
    LoginThrottle throttle,
    PgVault.Ui.ConsoleSessions sessions)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "PgVault";
    public const string ClusterClaim = "pgvault:cluster";
    private const string FailureKey = "pgvault.auth.failure";
    private const string ThrottledKey = "pgvault.auth.throttled";

    /// <summary>User names longer than this share throttle buckets by their hash (a header can hold kilobytes).</summary>
    private const int MaxKeyedName = 128;

    private readonly ILogger _audit = logger.CreateLogger(Audit.Category);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization;
        if (header.Count == 0)
            return SessionCookie();
        if (header.Count > 1)
            return Fail("-", null, "more than one Authorization header was sent");

        var value = header[0] ?? "";
        ApiPrincipal? principal;
        if (value.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            if (!TryDecodeBasic(value.AsSpan(6).Trim(), out var user, out var password))
                return Fail("Basic", null, "malformed Basic credentials: expected base64 of 'username:password'");
            principal = credentials.FindVerified(user, password) ?? await CheckPasswordAsync(user, password).ConfigureAwait(false);
            if (principal is null)
                return Context.Items.ContainsKey(ThrottledKey) ? AuthenticateResult.Fail("throttled") : Fail("Basic", user, "invalid username or password");
        }
        else if (value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = value[7..].Trim();
            if (token.Length == 0)
                return Fail("Bearer", null, "malformed Bearer credentials: the token is empty");
            principal = credentials.VerifyToken(token);
            if (principal is null)
                return Fail("Bearer", null, "invalid or revoked token");
        }
        else
        {
            return Fail("-", null, "unsupported Authorization scheme: use 'Basic' or 'Bearer'");
        }

        return Success(principal);
    }

    private AuthenticateResult Success(ApiPrincipal principal)
    {
        var identity = new ClaimsIdentity(SchemeName);
        identity.AddClaim(new Claim(ClaimTypes.Name, principal.Name));
        var ticket = new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName);
        Context.Items[typeof(ApiPrincipal)] = principal;
        return AuthenticateResult.Success(ticket);
    }

    /// <summary>
    /// Without an <c>Authorization</c> header: the web console's session cookie, whose principal is the one its
    /// credentials gave at sign-in (its state-changing requests are checked by <see cref="PgVault.Ui.ConsoleCsrf"/>). A
    /// missing, unknown or expired session is no credential at all.
    /// </summary>
    private AuthenticateResult SessionCookie()
    {
        if (sessions.Find(Request.Cookies[PgVault.Ui.ConsoleSessions.CookieName]) is not { } session)
            return AuthenticateResult.NoResult();
        Context.Items[typeof(PgVault.Ui.ConsoleSession)] = session;
        return Success(session.Principal);
    }

    /// <summary>The slow check, once the throttle lets it run; null (with <see cref="ThrottledKey"/> set when refused
    /// before hashing) otherwise.</summary>
    private async Task<ApiPrincipal?> CheckPasswordAsync(string user, string password)
    {
        var address = Audit.ClientAddress(Context);
        var userKey = user.Length <= MaxKeyedName
            ? user
            : "sha256:" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(user)));
        if (!throttle.TryBegin(address, userKey, out var retryAfter))
        {
            Throttled("Basic", user, retryAfter, "too many failed logins from this address or for this user");
            return null;
        }

        using var slot = await throttle.EnterCheckAsync(Context.RequestAborted).ConfigureAwait(false);
        if (slot is null)
        {
            throttle.Succeeded(address, userKey); // no check was made: the attempt costs nothing
            Throttled("Basic", user, TimeSpan.FromSeconds(1), "too many password checks in progress");
            return null;
        }

        var principal = credentials.VerifyPassword(user, password);
        if (principal is not null)
            throttle.Succeeded(address, userKey);
        return principal;
    }

    private void Throttled(string scheme, string user, TimeSpan retryAfter, string reason)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        Context.Items[ThrottledKey] = seconds;
        Context.Items[FailureKey] = $"{reason}; retry after {seconds} s";
        Audit.AuthenticationFailed(_audit, Context, scheme, user, "throttled");
    }

    private AuthenticateResult Fail(string scheme, string? user, string reason)
    {
        Context.Items[FailureKey] = reason;
        Audit.AuthenticationFailed(_audit, Context, scheme, user, reason);
        return AuthenticateResult.Fail(reason);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Context.Items[ThrottledKey] is int seconds)
        {
            Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return ErrorWriter.WriteAsync(Context, ErrorCode.RateLimited, Context.Items[FailureKey] as string ?? "too many failed logins");
        }

        // The console's page asks for its own sign-in form, not the browser's Basic prompt.
        if (!Request.Headers.ContainsKey(PgVault.Ui.ConsoleSessions.ConsoleHeader))
        {
            Response.Headers.Append("WWW-Authenticate", "Basic realm=\"pgvault\", charset=\"UTF-8\"");
            Response.Headers.Append("WWW-Authenticate", "Bearer realm=\"pgvault\"");
        }

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
