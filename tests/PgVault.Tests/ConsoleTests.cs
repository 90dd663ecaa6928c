using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using PgVault.Security;
using PgVault.Testing;
using PgVault.Ui;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// The web console over plain HTTP: its page and security headers, sign-in with the API's credentials, the session
/// cookie's flags, the CSRF check of state-changing requests, and the principal's clusters only.
/// </summary>
public sealed partial class ConsoleTests(SeededApi api) : IClassFixture<SeededApi>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_page_and_its_files_are_served_with_a_strict_content_security_policy()
    {
        using var client = api.Server.Client((AuthenticationHeaderValue?)null);
        var (status, html, response) = await Json.GetAsync(client, "/ui/");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        AssertSecurityHeaders(response);

        // No inline script, style or event handler anywhere: the policy would block them.
        Assert.DoesNotMatch(InlineScript(), html);
        Assert.DoesNotMatch(InlineHandlerOrStyle(), html);
        Assert.Contains("<script type=\"module\" src=\"app.js\"></script>", html, StringComparison.Ordinal);
        Assert.Contains("<link rel=\"stylesheet\" href=\"app.css\">", html, StringComparison.Ordinal);
        foreach (var (file, type) in new[] { ("app.js", "text/javascript"), ("timeline.js", "text/javascript"), ("app.css", "text/css") })
        {
            var (fileStatus, _, fileResponse) = await Json.GetAsync(client, "/ui/" + file);
            Assert.Equal(HttpStatusCode.OK, fileStatus);
            Assert.Equal(type, fileResponse.Content.Headers.ContentType?.MediaType);
            AssertSecurityHeaders(fileResponse);

            using var again = new HttpRequestMessage(HttpMethod.Get, "/ui/" + file);
            again.Headers.IfNoneMatch.Add(fileResponse.Headers.ETag!);
            using var cached = await client.SendAsync(again, Ct);
            Assert.Equal(HttpStatusCode.NotModified, cached.StatusCode);
        }

        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = api.Server.BaseAddress };
        using var bare = await noRedirect.GetAsync(new Uri("/ui", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.Redirect, bare.StatusCode);
        Assert.Equal("/ui/", bare.Headers.Location?.OriginalString);

        var (missing, body, missingResponse) = await Json.GetAsync(client, "/ui/nothing.js");
        Json.AssertError(missingResponse, body, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.NotFound, missing);
    }

    private static void AssertSecurityHeaders(HttpResponseMessage response)
    {
        var csp = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.Equal(ConsoleEndpoints.ContentSecurityPolicy, csp);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-eval", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
    }

    [Fact]
    public async Task Signing_in_sets_an_HttpOnly_SameSite_Strict_cookie_and_gives_the_page_a_CSRF_token()
    {
        var (cookie, csrf, setCookie) = await SignInAsync(api.Server, "Bearer " + SeededApi.ScopedToken);
        var attributes = setCookie.Split(';').Select(a => a.Trim().ToLowerInvariant()).ToList();
        Assert.Contains("httponly", attributes);
        Assert.Contains("samesite=strict", attributes);
        Assert.Contains("path=/", attributes);
        Assert.DoesNotContain("secure", attributes); // plain HTTP: a Secure cookie would never come back
        Assert.DoesNotContain(attributes, a => a.StartsWith("expires", StringComparison.Ordinal) || a.StartsWith("max-age", StringComparison.Ordinal));
        Assert.True(cookie.Length >= 40, "a 256-bit random session id");
        Assert.NotEqual(cookie, csrf);

        var session = Json.Parse((await SendAsync(api.Server, HttpMethod.Get, "/ui/api/session", cookie)).Body);
        Assert.True(session["signedIn"]!.GetValue<bool>());
        Assert.Equal("scoped", session["name"]!.GetValue<string>());
        Assert.Equal(csrf, session["csrfToken"]!.GetValue<string>());
        Assert.False(session["allClusters"]!.GetValue<bool>());

        var anonymous = await SendAsync(api.Server, HttpMethod.Get, "/ui/api/session", cookie: null);
        Assert.Equal(HttpStatusCode.OK, anonymous.Status); // never a 401: the page logs no error before sign-in
        Assert.False(Json.Parse(anonymous.Body)["signedIn"]!.GetValue<bool>());
        Assert.Null(Json.Parse(anonymous.Body)["csrfToken"]);
        var forged = await SendAsync(api.Server, HttpMethod.Get, "/ui/api/session", cookie: "A" + cookie[1..]);
        Assert.False(Json.Parse(forged.Body)["signedIn"]!.GetValue<bool>());

        // Basic credentials sign in too, and every sign-in is a new session.
        var (basicCookie, basicCsrf, _) = await SignInAsync(api.Server,
            "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:" + SeededApi.Password)));
        Assert.NotEqual(cookie, basicCookie);
        Assert.NotEqual(csrf, basicCsrf);
    }

    [Fact]
    public async Task Wrong_credentials_are_refused_and_the_console_gets_no_Basic_prompt()
    {
        using var client = api.Server.Client((AuthenticationHeaderValue?)null);
        foreach (var console in new[] { true, false })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/ui/api/session");
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer pgv_not-a-real-token");
            if (console)
                request.Headers.Add(ConsoleSessions.ConsoleHeader, "1");
            using var response = await client.SendAsync(request, Ct);
            var body = await response.Content.ReadAsStringAsync(Ct);
            Json.AssertError(response, body, HttpStatusCode.Unauthorized);
            Assert.False(response.Headers.Contains("Set-Cookie"));
            Assert.Equal(!console, response.Headers.WwwAuthenticate.Count > 0);
        }

        // Without credentials, no session is made either.
        var none = await SendAsync(api.Server, HttpMethod.Post, "/ui/api/session", cookie: null);
        Assert.Equal(HttpStatusCode.Unauthorized, none.Status);
    }

    [Fact]
    public async Task A_session_sees_only_the_clusters_its_principal_is_granted()
    {
        var (scoped, _, _) = await SignInAsync(api.Server, "Bearer " + SeededApi.ScopedToken);
        var clusters = Json.Parse((await SendAsync(api.Server, HttpMethod.Get, "/clusters", scoped)).Body);
        Assert.Equal([SeededApi.ClusterB], clusters["items"]!.AsArray().Select(c => c!["id"]!.GetValue<string>()));
        var backups = Json.Parse((await SendAsync(api.Server, HttpMethod.Get, "/clusters/backups?limit=1000", scoped)).Body);
        Assert.All(backups["items"]!.AsArray(), b => Assert.Equal(SeededApi.ClusterB, b!["properties"]!["clusterId"]!.GetValue<string>()));
        Assert.Equal(api.Backups.Count(b => b.ClusterId == SeededApi.ClusterB), backups["items"]!.AsArray().Count);

        // Another's cluster and backups answer exactly as if they did not exist.
        var other = api.Backups.First(b => b.ClusterId == SeededApi.ClusterA);
        foreach (var path in new[] { $"/clusters/{SeededApi.ClusterA}", $"/clusters/{SeededApi.ClusterA}/backups", $"/clusters/backups/{other.Id}",
                     $"/clusters/backups/{other.Id}/basebackups" })
        {
            var hidden = await SendAsync(api.Server, HttpMethod.Get, path, scoped);
            Assert.Equal(HttpStatusCode.NotFound, hidden.Status);
        }

        var (admin, _, _) = await SignInAsync(api.Server, "Bearer " + SeededApi.AdminToken);
        var all = Json.Parse((await SendAsync(api.Server, HttpMethod.Get, "/clusters", admin)).Body);
        Assert.Contains(SeededApi.ClusterA, all["items"]!.AsArray().Select(c => c!["id"]!.GetValue<string>()));
    }

    [Fact]
    public async Task State_changing_requests_by_the_cookie_need_the_sessions_CSRF_token()
    {
        var (cookie, csrf, _) = await SignInAsync(api.Server, "Bearer " + SeededApi.ScopedToken);
        var (otherCookie, otherCsrf, _) = await SignInAsync(api.Server, "Bearer " + SeededApi.ScopedToken);
        Assert.NotEqual(csrf, otherCsrf);
        var paths = new[] { $"/clusters/{SeededApi.ClusterB}/backups", $"/clusters/{SeededApi.ClusterB}/restore" };
        foreach (var path in paths)
        {
            foreach (var token in new[] { null, "", "wrong", otherCsrf, csrf.ToUpperInvariant() })
            {
                var refused = await SendAsync(api.Server, HttpMethod.Post, path, cookie, csrf: token, json: "{\"backupId\":\"x\"}");
                var (code, message) = Json.AssertError(refused.Response, refused.Body, HttpStatusCode.Forbidden);
                Assert.Equal("PGV-0104", code);
                Assert.Contains(ConsoleSessions.CsrfHeader, message, StringComparison.Ordinal);
            }

            // With the token the request reaches the endpoint (which answers as it does to the API: this server backs
            // nothing up, so the action is refused there, never by the CSRF check).
            var passed = await SendAsync(api.Server, HttpMethod.Post, path, cookie, csrf: csrf, json: "{\"backupId\":\"x\"}");
            Assert.NotEqual(HttpStatusCode.Forbidden, passed.Status);
            Assert.NotEqual(HttpStatusCode.Unauthorized, passed.Status);
        }

        // Reading needs no token; the Authorization header is not the cookie and is not checked for one.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(api.Server, HttpMethod.Get, "/clusters", cookie)).Status);
        using (var bearer = api.Server.Client(SeededApi.ScopedToken))
        using (var request = new HttpRequestMessage(HttpMethod.Post, $"/clusters/{SeededApi.ClusterB}/backups"))
        {
            request.Headers.Add("Cookie", $"{ConsoleSessions.CookieName}={cookie}");
            using var response = await bearer.SendAsync(request, Ct);
            Assert.NotEqual(HttpStatusCode.Forbidden, response.StatusCode);
        }

        // Signing out is a state change too; after it the cookie is worth nothing.
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(api.Server, HttpMethod.Delete, "/ui/api/session", cookie)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(api.Server, HttpMethod.Get, "/clusters", cookie)).Status);
        var signOut = await SendAsync(api.Server, HttpMethod.Delete, "/ui/api/session", cookie, csrf: csrf);
        Assert.Equal(HttpStatusCode.NoContent, signOut.Status);
        Assert.Contains(signOut.Response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(ConsoleSessions.CookieName + "=;", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(api.Server, HttpMethod.Get, "/clusters", cookie)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(api.Server, HttpMethod.Get, "/clusters", otherCookie)).Status);
    }

    [Fact]
    public async Task Turned_off_the_console_is_not_served_and_no_session_can_be_made()
    {
        await using var server = await ApiServer.StartAsync("console-off", new Dictionary<string, string?>
        {
            ["PgVault:Api:Console:Enabled"] = "false",
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(SeededApi.AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
        });
        foreach (var path in new[] { "/ui/", "/ui/app.js", "/ui/api/session" })
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(server, HttpMethod.Get, path, cookie: null)).Status);
        using var client = server.Client(SeededApi.AdminToken);
        using var post = await client.PostAsync(new Uri("/ui/api/session", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.NotFound, post.StatusCode);
        Assert.False(post.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task Over_HTTPS_the_session_cookie_is_Secure()
    {
        using var dir = new TempDirectory("console-tls");
        await TlsTests.WriteCertificateAsync(dir.Path, "pgvault-console");
        await using var server = await ApiServer.StartAsync("console-tls", new Dictionary<string, string?>
        {
            ["PgVault:Api:Tls:CertificateFile"] = Path.Combine(dir.Path, "cert.pem"),
            ["PgVault:Api:Tls:KeyFile"] = Path.Combine(dir.Path, "key.pem"),
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(SeededApi.AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
        }, urls: "https://127.0.0.1:0");
        var (_, _, setCookie) = await SignInAsync(server, "Bearer " + SeededApi.AdminToken);
        var attributes = setCookie.Split(';').Select(a => a.Trim().ToLowerInvariant()).ToList();
        Assert.Contains("secure", attributes);
        Assert.Contains("httponly", attributes);
        Assert.Contains("samesite=strict", attributes);
    }

    [Fact]
    public void A_session_ends_when_unused_for_the_idle_timeout_and_twelve_hours_after_sign_in()
    {
        var clock = new ManualClock(SeededApi.T0);
        var options = new PgVault.Configuration.PgVaultOptions();
        options.Api.Console.SessionIdleTimeout = TimeSpan.FromMinutes(30);
        var sessions = new ConsoleSessions(options, clock);
        var principal = new PgVault.Api.Auth.ApiPrincipal("alice", PgVault.Catalog.ClusterScope.All);

        var (idle, _) = sessions.Create(principal);
        clock.Advance(TimeSpan.FromMinutes(29));
        Assert.NotNull(sessions.Find(idle)); // a use moves the idle deadline
        clock.Advance(TimeSpan.FromMinutes(29));
        Assert.NotNull(sessions.Find(idle));
        clock.Advance(TimeSpan.FromMinutes(31));
        Assert.Null(sessions.Find(idle));
        Assert.Null(sessions.Find(idle)); // and it is gone

        var (busy, _) = sessions.Create(principal);
        for (var used = TimeSpan.Zero; used < ConsoleSessions.MaxLifetime - TimeSpan.FromMinutes(20); used += TimeSpan.FromMinutes(20))
        {
            clock.Advance(TimeSpan.FromMinutes(20));
            Assert.NotNull(sessions.Find(busy));
        }

        clock.Advance(TimeSpan.FromMinutes(21));
        Assert.Null(sessions.Find(busy)); // used all along, but signed in over 12 hours ago

        var (signedOut, _) = sessions.Create(principal);
        sessions.Remove(signedOut);
        Assert.Null(sessions.Find(signedOut));
        Assert.Null(sessions.Find("not-a-session"));
        Assert.Equal(0, sessions.Count);
    }

    /// <summary>Signs in as the page does; returns the cookie's value, the CSRF token and the whole Set-Cookie header.</summary>
    internal static async Task<(string Cookie, string Csrf, string SetCookie)> SignInAsync(ApiServer server, string authorization)
    {
        using var client = NewClient(server);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/ui/api/session");
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        request.Headers.Add(ConsoleSessions.ConsoleHeader, "1");
        using var response = await client.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith(ConsoleSessions.CookieName + "=", setCookie, StringComparison.Ordinal);
        var cookie = setCookie[(ConsoleSessions.CookieName.Length + 1)..setCookie.IndexOf(';', StringComparison.Ordinal)];
        var json = Json.Parse(body);
        Assert.True(json["signedIn"]!.GetValue<bool>());
        return (cookie, json["csrfToken"]!.GetValue<string>(), setCookie);
    }

    private static HttpClient NewClient(ApiServer server) =>
        new(new SocketsHttpHandler
        {
            UseCookies = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null },
        })
        { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> SendAsync(ApiServer server, HttpMethod method,
        string path, string? cookie, string? csrf = null, string? json = null)
    {
        using var client = NewClient(server);
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Add(ConsoleSessions.ConsoleHeader, "1");
        if (cookie is not null)
            request.Headers.Add("Cookie", $"{ConsoleSessions.CookieName}={cookie}");
        if (csrf is not null)
            request.Headers.TryAddWithoutValidation(ConsoleSessions.CsrfHeader, csrf);
        if (json is not null)
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        var response = await client.SendAsync(request, Ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct), response);
    }

    [GeneratedRegex(@"<script(?![^>]*\bsrc=)[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex InlineScript();

    [GeneratedRegex(@"\s(on[a-z]+|style)\s*=", RegexOptions.IgnoreCase | RegexOptions.ExplicitCapture)]
    private static partial Regex InlineHandlerOrStyle();
}
