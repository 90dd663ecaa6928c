using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using PgVault.Api.Auth;
using PgVault.Configuration;

namespace PgVault.Ui;

/// <summary>A signed-in console user: the principal its credentials gave at sign-in, and the CSRF token its
/// state-changing requests must send.</summary>
public sealed class ConsoleSession(ApiPrincipal principal, string csrfToken, long createdAt)
{
    private long _lastSeen = createdAt;

    public ApiPrincipal Principal { get; } = principal;

    /// <summary>Sent back by the page in <see cref="ConsoleSessions.CsrfHeader"/> with every request that changes state.</summary>
    public string CsrfToken { get; } = csrfToken;

    /// <summary>When it was created (UTC ticks).</summary>
    public long CreatedAt { get; } = createdAt;

    internal long LastSeen
    {
        get => Interlocked.Read(ref _lastSeen);
        set => Interlocked.Exchange(ref _lastSeen, value);
    }

    /// <summary>Whether <paramref name="sent"/> is this session's CSRF token (constant-time).</summary>
    public bool IsCsrfToken(string? sent) =>
        sent is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(sent), Encoding.UTF8.GetBytes(CsrfToken));
}

/// <summary>
/// The console's sessions, in this process's memory (a restart, or another instance behind a balancer, asks to sign in
/// again). The cookie carries a random 256-bit id; the store is keyed by its SHA-256, so nothing in memory can be
/// replayed as a cookie. A session ends after <see cref="ConsoleOptions.SessionIdleTimeout"/> unused, after
/// <see cref="MaxLifetime"/> in any case, or at sign-out. Authentication itself is the API's: a session is created only
/// for a principal the API's <c>Authorization</c> handler verified, and carries that principal's cluster scope.
/// </summary>
public sealed class ConsoleSessions(PgVaultOptions options, TimeProvider time)
{
    public const string CookieName = "pgvault-session";

    /// <summary>The header of the session's CSRF token (double submit: the page got it from the sign-in answer).</summary>
    public const string CsrfHeader = "X-CSRF-Token";

    /// <summary>Sent by the console's page with every request: a 401 then carries no <c>WWW-Authenticate</c>, so the
    /// browser shows the page's own sign-in form instead of its Basic prompt.</summary>
    public const string ConsoleHeader = "X-PgVault-Console";

    public static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(12);

    /// <summary>The most sessions kept; beyond, the expired ones are dropped, then the oldest.</summary>
    private const int MaxSessions = 10_000;

    private readonly ConcurrentDictionary<string, ConsoleSession> _sessions = new(StringComparer.Ordinal);
    private readonly TimeSpan _idle = options.Api.Console.SessionIdleTimeout;

    public bool Enabled { get; } = options.Api.Console.Enabled;

    /// <summary>A new session for <paramref name="principal"/>: the cookie value to send (never stored here) and the session.</summary>
    public (string CookieValue, ConsoleSession Session) Create(ApiPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        if (_sessions.Count >= MaxSessions)
            Prune();
        var id = Base64Url(RandomNumberGenerator.GetBytes(32));
        var session = new ConsoleSession(principal, Base64Url(RandomNumberGenerator.GetBytes(32)), time.GetUtcNow().UtcTicks);
        _sessions[Key(id)] = session;
        return (id, session);
    }

    /// <summary>The live session of a cookie value (its last use moved to now), or null.</summary>
    public ConsoleSession? Find(string? cookieValue)
    {
        if (!Enabled || string.IsNullOrEmpty(cookieValue) || cookieValue.Length > 64)
            return null;
        var key = Key(cookieValue);
        if (!_sessions.TryGetValue(key, out var session))
            return null;
        var now = time.GetUtcNow().UtcTicks;
        if (Expired(session, now))
        {
            _sessions.TryRemove(key, out _);
            return null;
        }

        session.LastSeen = now;
        return session;
    }

    public void Remove(string? cookieValue)
    {
        if (!string.IsNullOrEmpty(cookieValue) && cookieValue.Length <= 64)
            _sessions.TryRemove(Key(cookieValue), out _);
    }

    /// <summary>Sessions held (tests).</summary>
    internal int Count => _sessions.Count;

    /// <summary>Writes the session cookie: <c>HttpOnly</c>, <c>SameSite=Strict</c>, <c>Secure</c> over HTTPS, for the whole
    /// site (the page calls the API's own paths with it), ending with the browser (no <c>Expires</c>).</summary>
    public static void SetCookie(HttpContext context, string value)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Cookies.Append(CookieName, value, SessionCookieOptions(context));
    }

    public static void DeleteCookie(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Cookies.Delete(CookieName, SessionCookieOptions(context));
    }

    private static CookieOptions SessionCookieOptions(HttpContext context) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = context.Request.IsHttps,
        Path = "/",
        IsEssential = true,
    };

    private bool Expired(ConsoleSession session, long now) =>
        TimeSpan.FromTicks(now - session.LastSeen) > _idle || TimeSpan.FromTicks(now - session.CreatedAt) > MaxLifetime;

    private void Prune()
    {
        var now = time.GetUtcNow().UtcTicks;
        foreach (var (key, session) in _sessions)
        {
            if (Expired(session, now))
                _sessions.TryRemove(key, out _);
        }

        while (_sessions.Count >= MaxSessions)
        {
            var oldest = _sessions.MinBy(kv => kv.Value.LastSeen);
            _sessions.TryRemove(oldest.Key, out _);
        }
    }

    private static string Key(string cookieValue) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(cookieValue)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
