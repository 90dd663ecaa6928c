using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using PgVault.Api.Contracts;
using PgVault.Catalog;
using Xunit;

namespace PgVault.Tests;

/// <summary>The three IONOS Backups endpoints: the spec's schemas, the JSON rules clients rely on, and pagination.</summary>
public sealed class BackupsApiTests(SeededApi api) : IClassFixture<SeededApi>
{
    private readonly HttpClient _admin = api.Server.Client(SeededApi.AdminToken);

    public static TheoryData<string> Prefixes => new() { "", "/databases/postgresql" };

    [Theory]
    [MemberData(nameof(Prefixes))]
    public async Task Every_response_validates_against_the_spec(string prefix)
    {
        foreach (var url in new[]
                 {
                     "/clusters/backups", "/clusters/backups?limit=1000", "/clusters/backups?offset=200&limit=7",
                     $"/clusters/{SeededApi.ClusterA}/backups", $"/clusters/{SeededApi.ClusterB}/backups?offset=3&limit=2",
                 })
        {
            var (status, body, _) = await Json.GetAsync(_admin, prefix + url);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Empty(SpecSchemas.Errors("ClusterBackupList", body));
        }

        // One backup of every state, with and without earliestRecoveryTargetTime.
        foreach (var b in api.Backups.DistinctBy(b => (b.State, b.EarliestRecoveryTargetTime is null)))
        {
            var (status, body, _) = await Json.GetAsync(_admin, $"{prefix}/clusters/backups/{b.Id}");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Empty(SpecSchemas.Errors("BackupResponse", body));
        }
    }

    [Fact]
    public async Task A_backup_is_shown_as_IONOS_clients_expect()
    {
        foreach (var expected in api.Backups)
        {
            var (status, body, _) = await Json.GetAsync(_admin, $"/clusters/backups/{Uri.EscapeDataString(expected.Id)}");
            Assert.Equal(HttpStatusCode.OK, status);
            var json = Json.Parse(body);
            Assert.Empty(Json.NullPaths(json));
            Assert.Equal("backup", json["type"]!.GetValue<string>());
            Assert.Equal(expected.Id, json["id"]!.GetValue<string>());
            var metadata = json["metadata"]!;
            AssertUtcSeconds(metadata["createdDate"]!.GetValue<string>(), expected.CreatedDate);
            Assert.Equal(ContractMapper.StateName(expected.State), metadata["state"]!.GetValue<string>());
            var p = json["properties"]!.AsObject();
            Assert.Equal(expected.Id, p["id"]!.GetValue<string>());
            Assert.Equal(expected.ClusterId, p["clusterId"]!.GetValue<string>());
            Assert.Equal("15", p["version"]!.GetValue<string>());
            Assert.Equal(expected.IsActive, p["isActive"]!.GetValue<bool>());
            Assert.Equal("local", p["location"]!.GetValue<string>());
            var expectedMb = (long)Math.Ceiling(expected.SizeBytes / (1024.0 * 1024.0));
            Assert.Equal(expectedMb, p["size"]!.GetValue<long>());
            if (expected.EarliestRecoveryTargetTime is { } t)
                AssertUtcSeconds(p["earliestRecoveryTargetTime"]!.GetValue<string>(), t);
            else
                Assert.False(p.ContainsKey("earliestRecoveryTargetTime"));
        }
    }

    [Fact]
    public async Task Sizes_are_whole_megabytes_rounded_up()
    {
        Assert.Equal(0, ContractMapper.SizeInMegabytes(0));
        Assert.Equal(1, ContractMapper.SizeInMegabytes(1));
        Assert.Equal(1, ContractMapper.SizeInMegabytes(1024 * 1024));
        Assert.Equal(2, ContractMapper.SizeInMegabytes((1024 * 1024) + 1));
        var (_, body, _) = await Json.GetAsync(_admin, "/clusters/backups?limit=1000");
        var sizes = Json.Parse(body)["items"]!.AsArray().Select(i => i!["properties"]!["size"]!.GetValue<long>()).ToHashSet();
        Assert.Superset(new HashSet<long> { 0, 1, 2, 5120 }, sizes);
    }

    [Theory]
    [MemberData(nameof(Prefixes))]
    public async Task Pages_concatenate_to_the_whole_listing_in_order_each_backup_once(string prefix)
    {
        var random = new Random(7);
        var limits = new[] { 1, 3, 10, 100, 230, 231, 232, 1000 }.Concat(Enumerable.Range(0, 4).Select(_ => random.Next(2, 120)));
        foreach (var limit in limits)
        {
            var ids = new List<string>();
            string? next = $"{prefix}/clusters/backups?limit={limit}";
            var pages = 0;
            while (next is not null)
            {
                var (status, body, _) = await Json.GetAsync(_admin, next);
                Assert.Equal(HttpStatusCode.OK, status);
                var json = Json.Parse(body);
                Assert.Equal("collection", json["type"]!.GetValue<string>());
                Assert.Equal(limit, json["limit"]!.GetValue<int>());
                Assert.Equal(pages * limit, json["offset"]!.GetValue<int>());
                var items = json["items"]!.AsArray();
                Assert.True(items.Count <= limit);
                ids.AddRange(items.Select(i => i!["id"]!.GetValue<string>()));
                next = json["links"]!["next"]?.GetValue<string>();
                Assert.True(pages++ < 1000, "pagination does not end");
            }

            Assert.Equal(api.Backups.Select(b => b.Id), ids);
        }
    }

    [Fact]
    public async Task Links_are_absolute_and_present_only_when_they_lead_somewhere()
    {
        var total = api.Backups.Count; // 231
        var baseUrl = new Uri(api.Server.BaseAddress, "/databases/postgresql/clusters/backups").ToString();

        var first = Json.Parse((await Json.GetAsync(_admin, "/databases/postgresql/clusters/backups?limit=100")).Body);
        Assert.Equal(0, first["offset"]!.GetValue<int>());
        Assert.Equal($"{baseUrl}?offset=0&limit=100", first["links"]!["self"]!.GetValue<string>());
        Assert.Null(first["links"]!["prev"]);
        Assert.Equal($"{baseUrl}?offset=100&limit=100", first["links"]!["next"]!.GetValue<string>());
        Assert.Equal(first["links"]!.ToJsonString(), first["_links"]!.ToJsonString());

        var middle = Json.Parse((await Json.GetAsync(_admin, "/databases/postgresql/clusters/backups?offset=30&limit=100")).Body);
        Assert.Equal($"{baseUrl}?offset=0&limit=100", middle["links"]!["prev"]!.GetValue<string>());
        Assert.Equal($"{baseUrl}?offset=130&limit=100", middle["links"]!["next"]!.GetValue<string>());

        var last = Json.Parse((await Json.GetAsync(_admin, $"/databases/postgresql/clusters/backups?offset={total - 100}&limit=100")).Body);
        Assert.Null(last["links"]!["next"]); // offset + limit == total
        Assert.Equal(100, last["items"]!.AsArray().Count);

        var beyond = Json.Parse((await Json.GetAsync(_admin, $"/clusters/backups?offset={total + 50}&limit=10")).Body);
        Assert.Empty(beyond["items"]!.AsArray());
        Assert.Null(beyond["links"]!["next"]);
        Assert.NotNull(beyond["links"]!["prev"]);
        foreach (var link in new[] { first, middle, last, beyond }.SelectMany(j => j["links"]!.AsObject().Select(kv => kv.Value!.GetValue<string>())))
            Assert.True(Uri.TryCreate(link, UriKind.Absolute, out _), link);
    }

    [Fact]
    public async Task A_clusters_backups_are_exactly_its_own_and_defaults_apply()
    {
        var (status, body, _) = await Json.GetAsync(_admin, $"/clusters/{SeededApi.ClusterB}/backups");
        Assert.Equal(HttpStatusCode.OK, status);
        var json = Json.Parse(body);
        Assert.Equal(0, json["offset"]!.GetValue<int>());
        Assert.Equal(100, json["limit"]!.GetValue<int>());
        var expected = api.Backups.Where(b => b.ClusterId == SeededApi.ClusterB).Select(b => b.Id);
        Assert.Equal(expected, json["items"]!.AsArray().Select(i => i!["id"]!.GetValue<string>()));

        // Any spelling of the UUID names the same cluster.
        var upper = Json.Parse((await Json.GetAsync(_admin, $"/clusters/{SeededApi.ClusterB.ToUpperInvariant()}/backups")).Body);
        Assert.Equal(json["items"]!.ToJsonString(), upper["items"]!.ToJsonString());
    }

    [Fact]
    public async Task Backups_of_a_cluster_no_longer_configured_stay_listed()
    {
        var (status, body, _) = await Json.GetAsync(_admin, "/clusters/backups/orphan-backup-15");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("AVAILABLE", Json.Parse(body)["metadata"]!["state"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("/clusters/backups/does-not-exist")]
    [InlineData("/clusters/backups/%20")]
    [InlineData("/clusters/11111111-2222-4333-8444-555555555555/backups")]
    [InlineData("/clusters/not-a-uuid/backups")]
    [InlineData("/databases/postgresql/clusters/backups/does-not-exist")]
    public async Task Unknown_backups_and_clusters_answer_404(string url)
    {
        var (_, body, response) = await Json.GetAsync(_admin, url);
        var (code, _) = Json.AssertError(response, body, HttpStatusCode.NotFound);
        Assert.Equal("PGV-0105", code);
    }

    [Fact]
    public async Task Clusters_are_listed_in_the_IONOS_shape()
    {
        var (status, body, _) = await Json.GetAsync(_admin, "/databases/postgresql/clusters");
        Assert.Equal(HttpStatusCode.OK, status);
        var json = Json.Parse(body);
        Assert.Empty(Json.NullPaths(json));
        Assert.Equal("collection", json["type"]!.GetValue<string>());
        var items = json["items"]!.AsArray();
        Assert.Equal(new[] { SeededApi.ClusterA, SeededApi.ClusterB }.Order(), items.Select(i => i!["id"]!.GetValue<string>()).Order());
        var (_, one, _) = await Json.GetAsync(_admin, $"/clusters/{SeededApi.ClusterA}");
        var cluster = Json.Parse(one);
        Assert.Equal("cluster", cluster["type"]!.GetValue<string>());
        Assert.Equal(SeededApi.ClusterA, cluster["id"]!.GetValue<string>());
        Assert.EndsWith("Z", cluster["metadata"]!["createdDate"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(cluster["metadata"]!["state"]!.GetValue<string>(), new[] { "AVAILABLE", "BUSY", "DESTROYING", "DEGRADED", "FAILED", "UNKNOWN" });
        Assert.Equal("alpha", cluster["properties"]!["displayName"]!.GetValue<string>());
        Assert.Equal("local", cluster["properties"]!["backupLocation"]!.GetValue<string>());
        // B has no DisplayName configured: its id stands in.
        var b = Json.Parse((await Json.GetAsync(_admin, $"/clusters/{SeededApi.ClusterB}")).Body);
        Assert.Equal(SeededApi.ClusterB, b["properties"]!["displayName"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_IONOS_clients_name_filter_lists_clusters_whose_display_name_contains_it()
    {
        async Task<string[]> Ids(string query) =>
            Json.Parse((await Json.GetAsync(_admin, "/databases/postgresql/clusters" + query)).Body)["items"]!.AsArray()
                .Select(i => i!["id"]!.GetValue<string>()).ToArray();
        Assert.Equal([SeededApi.ClusterA], await Ids("?filter.name=LPH"));
        Assert.Equal([SeededApi.ClusterB], await Ids("?filter.name=" + SeededApi.ClusterB[..8].ToUpperInvariant()));
        Assert.Empty(await Ids("?filter.name=nothing-like-it"));
        Assert.Equal(2, (await Ids("?filter.name=")).Length);
        var (status, body, _) = await Json.GetAsync(_admin, "/clusters?filter.name=a&filter.name=b");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("filter.name", body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("//clusters/backups", "/clusters/backups")]
    [InlineData("/databases/postgresql//clusters", "/databases/postgresql/clusters")]
    [InlineData("//databases//postgresql///clusters/backups?limit=2", "/databases/postgresql/clusters/backups?limit=2")]
    public async Task Repeated_slashes_in_a_path_are_one_slash(string doubled, string single)
    {
        // A client base URL ending in '/' (".../postgresql/") joins to "//clusters".
        var (status, body, _) = await Json.GetAsync(_admin, api.Server.BaseAddress.GetLeftPart(UriPartial.Authority) + doubled);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((await Json.GetAsync(_admin, single)).Body, body);
    }

    private static void AssertUtcSeconds(string text, DateTimeOffset expected)
    {
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", text);
        var parsed = DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        Assert.Equal(expected.UtcDateTime.Ticks / TimeSpan.TicksPerSecond, parsed.UtcDateTime.Ticks / TimeSpan.TicksPerSecond);
    }
}
