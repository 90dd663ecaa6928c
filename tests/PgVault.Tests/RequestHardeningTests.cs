using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PgVault.Api.Limits;
using PgVault.Hosting;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// What a client can make the server read, keep, log or show: request bodies and targets are capped, the restore's
/// target time is strict RFC 3339 and never echoed, the benchmark's body cache is bounded, the admin token's temp file
/// cannot be redirected, log lines cannot be forged, and <c>/readyz</c> shows details only to an all-clusters principal.
/// </summary>
public sealed class RequestHardeningTests : IAsyncLifetime
{
    private const string ClusterA = SeededApi.ClusterA;
    private const string ScopedToken = SeededApi.ScopedToken;
    private ApiServer? _server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ApiServer Server => _server!;

    public async ValueTask InitializeAsync()
    {
        _server = await ApiServer.StartAsync("hardening", new Dictionary<string, string?>
        {
            ["PgVault:Clusters:0:Id"] = ClusterA,
            ["PgVault:Clusters:0:ConnectionString"] = "Host=127.0.0.1;Username=backup",
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(SeededApi.AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
            ["PgVault:Tokens:1:Name"] = "scoped",
            ["PgVault:Tokens:1:TokenHash"] = TokenHasher.Hash(ScopedToken),
            ["PgVault:Tokens:1:Clusters:0"] = SeededApi.ClusterB,
            ["PgVault:Api:EnableBenchmarkEndpoint"] = "true",
            ["PgVault:RateLimit:PermitsPerSecond"] = "0",
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
    }

    private async Task<(HttpResponseMessage Response, string Body)> PostAsync(string path, HttpContent content)
    {
        using var client = Server.Client(SeededApi.AdminToken);
        var response = await client.PostAsync(new Uri(path, UriKind.Relative), content, Ct);
        return (response, await response.Content.ReadAsStringAsync(Ct));
    }

    [Theory]
    [InlineData("Tuesday")]
    [InlineData("2025-03-04")]
    [InlineData("2025-03-04T05:06:07")]
    [InlineData("03/04/2025 05:06:07 +00:00")]
    [InlineData("2025-03-04T05:06:07+0100")]
    [InlineData("2025-13-04T05:06:07Z")]
    [InlineData(" 2025-03-04T05:06:07Z")]
    public async Task A_recovery_target_time_that_is_not_RFC_3339_is_refused_before_the_backup_lookup_and_not_echoed(string time)
    {
        var json = $$"""{"backupId":"no-such-backup","recoveryTargetTime":"{{time.Replace("\"", "", StringComparison.Ordinal)}}"}""";
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        var (response, body) = await PostAsync($"/clusters/{ClusterA}/restore", content);
        var (code, message) = Json.AssertError(response, body, HttpStatusCode.BadRequest);
        Assert.Equal("PGV-0102", code);
        Assert.Contains("RFC 3339", message, StringComparison.Ordinal);
        Assert.DoesNotContain(time.Trim(), message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2026-11-01T08:30:00Z")]
    [InlineData("2026-11-01t08:30:00.123456+01:00")]
    public void RFC_3339_times_are_accepted(string time)
    {
        var parsed = PgVault.Api.Endpoints.RestoreEndpoints.ParseTargetTime(time);
        Assert.Equal(TimeSpan.Zero, parsed.Offset);
    }

    [Fact]
    public async Task A_valid_time_goes_on_to_the_backup_lookup()
    {
        using var content = new StringContent("""{"backupId":"no-such-backup","recoveryTargetTime":"2026-11-01T08:30:00Z"}""",
            Encoding.UTF8, "application/json");
        var (response, body) = await PostAsync($"/clusters/{ClusterA}/restore", content);
        Json.AssertError(response, body, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Request_bodies_are_capped_declared_or_chunked()
    {
        var big = "{\"backupId\":\"" + new string('x', 9 * 1024) + "\"}";
        using (var declared = new StringContent(big, Encoding.UTF8, "application/json"))
        {
            var (response, body) = await PostAsync($"/clusters/{ClusterA}/restore", declared);
            var (code, _) = Json.AssertError(response, body, HttpStatusCode.RequestEntityTooLarge);
            Assert.Equal("PGV-0113", code);
        }

        // Chunked: no Content-Length, cut off while read.
        using (var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))))
        {
            chunked.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var client = Server.Client(SeededApi.AdminToken);
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/clusters/{ClusterA}/restore") { Content = chunked };
            request.Headers.TransferEncodingChunked = true;
            using var response = await client.SendAsync(request, Ct);
            Json.AssertError(response, await response.Content.ReadAsStringAsync(Ct), HttpStatusCode.RequestEntityTooLarge);
        }

        // Anywhere on the server: at most 64 KB.
        using var huge = new ByteArrayContent(new byte[RequestBodyLimits.ServerBytes + 1]);
        var (r3, b3) = await PostAsync("/clusters/backups", huge);
        Json.AssertError(r3, b3, HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task Targets_and_headers_over_the_limits_answer_414_and_431_as_ErrorResponse()
    {
        using var client = Server.Client(SeededApi.AdminToken);
        var (_, body, response) = await Json.GetAsync(client, "/clusters/backups?x=" + new string('a', RequestSizeLimits.MaxTargetBytes));
        Assert.Equal("PGV-0114", Json.AssertError(response, body, HttpStatusCode.RequestUriTooLong).Code);

        using var request = new HttpRequestMessage(HttpMethod.Get, "/clusters/backups");
        request.Headers.TryAddWithoutValidation("X-Padding", new string('b', RequestSizeLimits.MaxHeaderBytes + 1));
        using var r2 = await client.SendAsync(request, Ct);
        Assert.Equal("PGV-0115", Json.AssertError(r2, await r2.Content.ReadAsStringAsync(Ct), HttpStatusCode.RequestHeaderFieldsTooLarge).Code);
    }

    /// <summary>
    /// What Kestrel refuses in its HTTP parser, before any of PgVault's code runs, and answers with an empty body: the
    /// list docs/SECURITY.md gives. If one of these starts to carry a body, update that list.
    /// </summary>
    [Theory]
    [InlineData("GET /clusters\0x HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET /clusters/%00 HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET /clusters HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 400)]
    [InlineData("GET /clusters/\u00e9 HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("POST /clusters HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400)]
    [InlineData("GET /x HTTP/1.1\r\nHost: a\r\nBad Header: v\r\n\r\n", 400)]
    [InlineData("LONG", 414)]
    public async Task Requests_the_web_server_refuses_in_its_parser_answer_without_a_body(string raw, int status)
    {
        if (raw == "LONG")
            raw = $"GET /{new string('a', 3 * RequestSizeLimits.MaxTargetBytes)} HTTP/1.1\r\nHost: a\r\n\r\n";
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(Server.BaseAddress.Host, Server.BaseAddress.Port, Ct);
        await using var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(raw), Ct);
        using var reader = new StreamReader(stream, Encoding.Latin1);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        var answer = await reader.ReadToEndAsync(timeout.Token);
        Assert.StartsWith($"HTTP/1.1 {status} ", answer, StringComparison.Ordinal);
        Assert.Contains("Content-Length: 0", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_benchmark_endpoint_keeps_a_bounded_number_of_bodies()
    {
        using var client = Server.Client(SeededApi.AdminToken);
        for (var size = 100; size < 130; size++)
            Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(client, $"/bench/ceiling?bytes={size}")).Status);
        Assert.InRange(PgVault.Api.Endpoints.ServiceEndpoints.CeilingBodies.Count, 1, PgVault.Api.Endpoints.ServiceEndpoints.CeilingBodies.MaxCached);
    }

    [Fact]
    public async Task Readiness_details_are_shown_only_to_a_principal_granted_every_cluster()
    {
        using var anonymous = Server.Client((System.Net.Http.Headers.AuthenticationHeaderValue?)null);
        using var scoped = Server.Client(ScopedToken);
        using var admin = Server.Client(SeededApi.AdminToken);
        foreach (var client in new[] { anonymous, scoped })
        {
            var (status, body, _) = await Json.GetAsync(client, "/readyz");
            Assert.Equal(HttpStatusCode.OK, status);
            var json = Json.Parse(body);
            Assert.Equal("ready", json["status"]!.GetValue<string>());
            Assert.Null(json["checks"]);
            Assert.DoesNotContain(Server.DataDirectory, body, StringComparison.Ordinal);
        }

        var detailed = Json.Parse((await Json.GetAsync(admin, "/readyz")).Body);
        Assert.NotEmpty(detailed["checks"]!.AsArray());
    }

    [Fact]
    public void Control_characters_in_log_messages_are_escaped_in_the_text_log()
    {
        var formatter = new TextLogFormatter();
        using var output = new StringWriter();
        var forged = "GET /x\r\n2026-01-01T00:00:00.000Z info: PgVault.Audit[0] forged\u001b[2J";
        formatter.Write(new LogEntry<string>(LogLevel.Information, "PgVault.Hosting.RequestLogging", new EventId(0), forged, null,
            (s, _) => s), null, output);
        var text = output.ToString();
        Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.DoesNotContain('\r', text);
        Assert.DoesNotContain('\u001b', text);
        Assert.Contains("/x\\r\\n2026-01-01", text, StringComparison.Ordinal);
        Assert.Contains("\\u001b[2J", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_admin_token_file_is_written_through_a_new_file_never_a_planted_link()
    {
        using var data = new TempDirectory("admin-token-link");
        using var outside = new TempDirectory("admin-token-outside");
        var victim = Path.Combine(outside.Path, "victim");
        await File.WriteAllTextAsync(victim, "untouched", Ct);
        // The name the temp file used to have, planted as a link to a file of someone else.
        File.CreateSymbolicLink(Path.Combine(data.Path, AdminToken.FileName + ".tmp"), victim);
        await using (var server = await ApiServer.StartAsync("admin-token-link", new Dictionary<string, string?>(), dataDirectory: data))
            Assert.Contains("admin token was created", server.ConsoleOutput, StringComparison.Ordinal);
        Assert.Equal("untouched", await File.ReadAllTextAsync(victim, Ct));
        var tokenFile = Path.Combine(data.Path, AdminToken.FileName);
        Assert.False(File.GetAttributes(tokenFile).HasFlag(FileAttributes.ReparsePoint));
        Assert.True(TokenHasher.IsValidHash((await File.ReadAllTextAsync(tokenFile, Ct)).Trim()));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
    }
}
