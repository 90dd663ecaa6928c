using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>Rate limiting, request logs, the OpenAPI document and the zero-configuration start.</summary>
public sealed class ServiceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string?> Tokens(params (string Name, string Token)[] tokens)
    {
        var settings = new Dictionary<string, string?>();
        for (var i = 0; i < tokens.Length; i++)
        {
            settings[$"PgVault:Tokens:{i}:Name"] = tokens[i].Name;
            settings[$"PgVault:Tokens:{i}:TokenHash"] = TokenHasher.Hash(tokens[i].Token);
            settings[$"PgVault:Tokens:{i}:Clusters:0"] = "*";
        }

        return settings;
    }

    [Fact]
    public async Task A_principal_over_its_rate_gets_429_with_retry_after_and_others_are_unaffected()
    {
        var settings = Tokens(("one", "pgv_rate-one-0123456789abcdefghijklmnopqrstuvw"), ("two", "pgv_rate-two-0123456789abcdefghijklmnopqrstuvw"));
        settings["PgVault:RateLimit:PermitsPerSecond"] = "1";
        settings["PgVault:RateLimit:Burst"] = "3";
        await using var server = await ApiServer.StartAsync("ratelimit", settings);
        using var one = server.Client("pgv_rate-one-0123456789abcdefghijklmnopqrstuvw");
        using var two = server.Client("pgv_rate-two-0123456789abcdefghijklmnopqrstuvw");

        HttpResponseMessage? limited = null;
        string limitedBody = "";
        for (var i = 0; i < 20 && limited is null; i++)
        {
            var (status, body, response) = await Json.GetAsync(one, "/clusters/backups");
            if (status == HttpStatusCode.TooManyRequests)
                (limited, limitedBody) = (response, body);
        }

        Assert.NotNull(limited);
        var (code, _) = Json.AssertError(limited, limitedBody, HttpStatusCode.TooManyRequests);
        Assert.Equal("PGV-0110", code);
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "Retry-After of at least 1 s");
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(two, "/clusters/backups")).Status);
        using var anonymous = server.Client((System.Net.Http.Headers.AuthenticationHeaderValue?)null);
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(anonymous, "/healthz")).Status);
    }

    [Fact]
    public async Task Logs_record_requests_but_never_credentials()
    {
        const string password = "pw-Zebra-Quartz-1998";
        const string token = "pgv_logcheck-0123456789abcdefghijklmnopqrstuv";
        var settings = Tokens(("logger", token));
        settings["PgVault:Users:0:Name"] = "carol";
        settings["PgVault:Users:0:PasswordHash"] = PasswordHasher.Hash(password, PasswordHasher.MinIterations);
        settings["PgVault:Users:0:Clusters:0"] = "*";
        await using var server = await ApiServer.StartAsync("logs", settings);
        using var basic = server.BasicClient("carol", password);
        using var bearer = server.Client(token);
        using var wrong = server.BasicClient("carol", password + "-wrong");
        using var badToken = server.Client(token + "-bad");
        foreach (var client in new[] { basic, bearer, wrong, badToken })
        {
            await Json.GetAsync(client, "/clusters/backups?limit=5");
            await Json.GetAsync(client, "/clusters/backups/x");
        }

        var lines = server.Logs.Lines.ToList();
        Assert.Contains(lines, l => l.Contains("/clusters/backups", StringComparison.Ordinal) && l.Contains("200", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("401", StringComparison.Ordinal));
        var basicHeader = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"carol:{password}"));
        foreach (var secret in new[] { password, token, token[4..], basicHeader, TokenHasher.Hash(token) })
            Assert.DoesNotContain(lines, l => l.Contains(secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_served_OpenAPI_document_agrees_with_the_seed_spec_on_the_Backups_paths_and_schemas()
    {
        var settings = Tokens(("doc", SeededApi.AdminToken));
        await using var server = await ApiServer.StartAsync("openapi", settings);
        using var client = server.Client(SeededApi.AdminToken);
        var (status, body, _) = await Json.GetAsync(client, "/openapi.json");
        Assert.Equal(HttpStatusCode.OK, status);
        var served = Json.Parse(body);
        var seed = SpecSchemas.Document;
        Assert.Equal("3.0.3", served["openapi"]!.GetValue<string>());
        // Every operation of the seed exactly; PgVault's own operations may stand beside them on the same path.
        foreach (var (path, item) in seed["paths"]!.AsObject())
        {
            foreach (var (method, operation) in item!.AsObject())
                Assert.True(JsonNode.DeepEquals(operation, served["paths"]![path]![method]), $"{method} {path} differs from the seed spec");
        }

        foreach (var section in new[] { "schemas", "parameters", "responses", "securitySchemes" })
        {
            foreach (var (name, node) in seed["components"]![section]!.AsObject())
                Assert.True(JsonNode.DeepEquals(node, served["components"]![section]![name]), $"components.{section}.{name} differs");
        }

        Assert.True(JsonNode.DeepEquals(seed["security"], served["security"]));
    }

    [Fact]
    public async Task Every_API_route_the_server_maps_is_in_the_served_OpenAPI_document()
    {
        var settings = Tokens(("doc", SeededApi.AdminToken));
        await using var server = await ApiServer.StartAsync("openapi-routes", settings);
        using var client = server.Client(SeededApi.AdminToken);
        var served = Json.Parse((await Json.GetAsync(client, "/openapi.json")).Body);
        var routes = server.Services.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints
            .OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw && raw.StartsWith("/clusters", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods ?? [])
                .Select(m => (Path: e.RoutePattern.RawText!, Method: m.ToLowerInvariant())))
            .Distinct().ToList();
        Assert.Contains(routes, r => r is { Path: "/clusters/{clusterId}/restore", Method: "post" });
        foreach (var (path, method) in routes)
            Assert.True(served["paths"]?[path]?[method] is not null, $"{method} {path} is served but not in /openapi.json");
    }

    [Fact]
    public async Task With_no_credentials_configured_the_first_start_prints_an_admin_token_once_and_keeps_only_its_hash()
    {
        using var dir = new TempDirectory("zeroconf");
        string token;
        await using (var server = await ApiServer.StartAsync("zeroconf", new Dictionary<string, string?>(), dataDirectory: dir))
        {
            token = System.Text.RegularExpressions.Regex.Match(server.ConsoleOutput, "pgv_[A-Za-z0-9_-]{43}").Value;
            Assert.NotEmpty(token);
            var file = Path.Combine(dir.Path, "admin-token.sha256");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            var stored = await File.ReadAllTextAsync(file, Ct);
            Assert.DoesNotContain(token, stored, StringComparison.Ordinal);
            Assert.Equal(TokenHasher.Hash(token), stored.Trim());
            using var client = server.Client(token);
            Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(client, "/clusters/backups")).Status);
        }

        await using (var again = await ApiServer.StartAsync("zeroconf", new Dictionary<string, string?>(), dataDirectory: dir))
        {
            Assert.DoesNotMatch("pgv_[A-Za-z0-9_-]{43}", again.ConsoleOutput);
            using var client = again.Client(token);
            Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(client, "/clusters/backups")).Status);
        }
    }
}
