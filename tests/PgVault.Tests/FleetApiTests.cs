using System.Net;
using PgVault.Errors;
using PgVault.Security;
using PgVault.Testing;
using Xunit;

namespace PgVault.Tests;

/// <summary>
/// One instance per SQLite catalog (a fleet needs the PostgreSQL one), and <c>GET /fleet</c> of a single instance.
/// The fleet itself runs in real processes: <c>PgVault.Engine.Tests.FleetTests</c>.
/// </summary>
public sealed class FleetApiTests
{
    private const string AdminToken = "fleet-admin";
    private const string OneToken = "fleet-one";
    private const string ClusterId = "6b7d1f3e-2c4a-4e8b-9f10-1a2b3c4d5e6f";

    private static Dictionary<string, string?> Settings(bool engine) => new()
    {
        ["PgVault:Engine:Enabled"] = engine ? "true" : "false",
        ["PgVault:Engine:ExpirySchedule"] = "",
        ["PgVault:Tokens:0:Name"] = "admin",
        ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(AdminToken),
        ["PgVault:Tokens:0:Clusters:0"] = "*",
        ["PgVault:Tokens:1:Name"] = "one",
        ["PgVault:Tokens:1:TokenHash"] = TokenHasher.Hash(OneToken),
        ["PgVault:Tokens:1:Clusters:0"] = ClusterId,
        ["PgVault:Fleet:InstanceName"] = "solo",
        ["PgVault:RateLimit:PermitsPerSecond"] = "0",
    };

    [Fact]
    public async Task A_second_instance_backing_up_from_the_same_SQLite_catalog_is_refused_until_the_first_stops()
    {
        using var dir = new TempDirectory("sqlite-lock");
        await using (var first = await ApiServer.StartAsync("lock-first", Settings(engine: true), dataDirectory: dir))
        {
            var refused = await Assert.ThrowsAsync<PgVaultException>(() => ApiServer.StartAsync("lock-second", Settings(engine: true), dataDirectory: dir));
            Assert.Equal(ErrorCode.CatalogInUse, refused.Code);
            Assert.Contains("another 'pgvault serve' already backs up the clusters of the SQLite catalog", refused.Message, StringComparison.Ordinal);
            Assert.Contains("Provider=postgres", refused.Hint, StringComparison.Ordinal);

            // An instance that only serves the API (engine off) streams nothing: it may share the catalog.
            await using var apiOnly = await ApiServer.StartAsync("lock-api-only", Settings(engine: false), dataDirectory: dir);
            using var client = apiOnly.Client(AdminToken);
            Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(client, "/clusters")).Status);
        }

        // The lock goes with the instance.
        await using var again = await ApiServer.StartAsync("lock-again", Settings(engine: true), dataDirectory: dir);
        using var http = again.Client(AdminToken);
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(http, "/clusters")).Status);
    }

    [Fact]
    public async Task GET_fleet_of_a_single_instance_names_it_with_every_cluster_and_is_for_principals_with_all_clusters_only()
    {
        var settings = Settings(engine: false);
        settings["PgVault:Clusters:0:Id"] = ClusterId;
        settings["PgVault:Clusters:0:ConnectionString"] = "Host=127.0.0.1;Username=backup";
        await using var server = await ApiServer.StartAsync("fleet-single", settings);

        using var admin = server.Client(AdminToken);
        var (status, body, _) = await Json.GetAsync(admin, "/fleet");
        Assert.Equal(HttpStatusCode.OK, status);
        var fleet = Json.Parse(body);
        Assert.Equal("single", fleet["mode"]!.GetValue<string>());
        Assert.Equal("solo", fleet["instance"]!.GetValue<string>());
        var only = fleet["instances"]!.AsArray().Single()!;
        Assert.Equal("solo", only["name"]!.GetValue<string>());
        Assert.True(only["live"]!.GetValue<bool>());
        // The engine is off here: nobody backs the cluster up.
        Assert.Empty(only["clusters"]!.AsArray());
        Assert.Equal([ClusterId], fleet["unownedClusters"]!.AsArray().Select(c => c!.GetValue<string>()));

        using var one = server.Client(OneToken);
        var (forbidden, error, _) = await Json.GetAsync(one, "/fleet");
        Assert.Equal(HttpStatusCode.Forbidden, forbidden);
        Assert.Equal("PGV-0104", Json.Parse(error)["messages"]![0]!["errorCode"]!.GetValue<string>());
        using var anonymous = server.Client((System.Net.Http.Headers.AuthenticationHeaderValue?)null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Json.GetAsync(anonymous, "/fleet")).Status);
    }
}
