using System.Net;
using System.Text.Json.Nodes;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary><c>GET /readyz</c>: ready with a working catalog and locations; 503 naming the failed check otherwise.</summary>
public sealed class ReadinessTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(HttpStatusCode Status, JsonObject Body)> ReadyzAsync(HttpClient client)
    {
        var (status, body, response) = await Json.GetAsync(client, "/readyz");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (status, Json.Parse(body));
    }

    private static JsonObject Check(JsonObject body, string name) =>
        body["checks"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == name)!.AsObject();

    /// <summary>Polls /readyz (bounded) until it answers <paramref name="expected"/>; results are reused for a second.</summary>
    private static async Task<JsonObject> WaitForAsync(HttpClient client, HttpStatusCode expected)
    {
        JsonObject? last = null;
        await MetricsTests.WaitAsync(async () =>
        {
            var (status, body) = await ReadyzAsync(client);
            last = body;
            return status == expected;
        }, $"/readyz to answer {(int)expected}", Bounded);
        return last!;
    }

    [Fact]
    public async Task Ready_when_catalog_and_locations_work_and_503_naming_a_location_that_became_unusable()
    {
        using var root = new TempDirectory("readyz-location");
        var repository = Path.Combine(root.Path, "repo");
        await using var server = await ApiServer.StartAsync("readyz-location", new Dictionary<string, string?>
        {
            ["PgVault:Locations:local:Path"] = repository,
            ["PgVault:Locations:second:Path"] = Path.Combine(root.Path, "second"),
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = PgVault.Security.TokenHasher.Hash(SeededApi.AdminToken),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
        });
        // The checks' details are shown to a principal granted every cluster (admin callers get the status only).
        using var admin = server.Client(SeededApi.AdminToken);

        var (status, ready) = await ReadyzAsync(admin);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ready", ready["status"]!.GetValue<string>());
        foreach (var name in new[] { "catalog", "location:local", "location:second" })
        {
            Assert.Equal("ok", Check(ready, name)["status"]!.GetValue<string>());
            Assert.Null(Check(ready, name)["reason"]);
        }

        // The probe leaves nothing behind.
        Assert.Empty(Directory.EnumerateFiles(repository, "*", SearchOption.AllDirectories));

        // The directory is replaced by a file: nothing can be written there any more.
        Directory.Delete(repository, recursive: true);
        await File.WriteAllTextAsync(repository, "not a directory", Ct);
        var failed = await WaitForAsync(admin, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("unavailable", failed["status"]!.GetValue<string>());
        var local = Check(failed, "location:local");
        Assert.Equal("failed", local["status"]!.GetValue<string>());
        Assert.Contains("unable to write to location 'local'", local["reason"]?.GetValue<string>() ?? "", StringComparison.Ordinal);
        Assert.Equal("ok", Check(failed, "location:second")["status"]!.GetValue<string>());
        Assert.Equal("ok", Check(failed, "catalog")["status"]!.GetValue<string>());
        Assert.Contains(server.Logs.Lines, l => l.Contains("not ready", StringComparison.Ordinal) && l.Contains("location:local", StringComparison.Ordinal));

        // Fixed again: ready again.
        File.Delete(repository);
        Directory.CreateDirectory(repository);
        await WaitForAsync(admin, HttpStatusCode.OK);

        // Unauthenticated like /healthz, and never rate limited.
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(admin, "/healthz")).Status);
    }

    [Fact]
    [Trait("Category", "Postgres")]
    public async Task Unreachable_PostgreSQL_catalog_is_503_with_the_reason_and_no_password()
    {
        const string password = "catalog-Secret-Walrus-4471";
        var pg = await PostgresCluster.StartAsync("readyz-catalog", ct: Ct);
        try
        {
            var db = await pg.CreateDatabaseAsync("readyz", Ct);
            var cs = new Npgsql.NpgsqlConnectionStringBuilder(pg.ConnectionString(db)) { Password = password, Timeout = 2 }.ToString();
            await using var server = await ApiServer.StartAsync("readyz-catalog", new Dictionary<string, string?>
            {
                ["PgVault:Catalog:Provider"] = "postgres",
                ["PgVault:Catalog:ConnectionString"] = cs,
                ["PgVault:Health:Timeout"] = "00:00:03",
                ["PgVault:Tokens:0:Name"] = "admin",
                ["PgVault:Tokens:0:TokenHash"] = PgVault.Security.TokenHasher.Hash(SeededApi.AdminToken),
                ["PgVault:Tokens:0:Clusters:0"] = "*",
            });
            using var admin = server.Client(SeededApi.AdminToken);
            Assert.Equal(HttpStatusCode.OK, (await ReadyzAsync(admin)).Status);

            await pg.DisposeAsync(); // the catalog's server goes away
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var failed = await WaitForAsync(admin, HttpStatusCode.ServiceUnavailable);
            var catalog = Check(failed, "catalog");
            Assert.Equal("failed", catalog["status"]!.GetValue<string>());
            var reason = catalog["reason"]!.GetValue<string>();
            Assert.Contains("catalog", reason, StringComparison.Ordinal);
            Assert.Equal("ok", Check(failed, "location:local")["status"]!.GetValue<string>());
            Assert.True(clock.Elapsed < Bounded, "readiness answers within its timeout");
            Assert.DoesNotContain(password, failed.ToJsonString(), StringComparison.Ordinal);
            Assert.DoesNotContain(server.Logs.Lines, l => l.Contains(password, StringComparison.Ordinal));
        }
        finally
        {
            await pg.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("Host=db;Username=u;Password=s3cr3t;Database=x", "Host=db;Username=u;Password=***;Database=x")]
    [InlineData("host=db password='it\\'s s3cr3t' dbname=x", "host=db password=*** dbname=x")]
    [InlineData("Server=db;PWD=s3cr3t", "Server=db;PWD=***")]
    [InlineData("postgres://alice:s3cr3t@db:5432/x", "postgres://alice:***@db:5432/x")]
    [InlineData("no secret here", "no secret here")]
    public void The_redactor_strips_passwords_from_connection_strings(string text, string expected)
    {
        Assert.Equal(expected, PgVault.Security.SecretRedactor.Redact(text));
    }
}
