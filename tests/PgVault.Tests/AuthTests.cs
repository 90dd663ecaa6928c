using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Xunit;

namespace PgVault.Tests;

/// <summary>HTTP Basic and Bearer on every endpoint but health, and what each principal may see.</summary>
public sealed class AuthTests(SeededApi api) : IClassFixture<SeededApi>
{
    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    public static TheoryData<string?, string> BadCredentials => new()
    {
        { null, "no header" },
        { "Basic " + B64("alice:wrong password"), "wrong password" },
        { "Basic " + B64("mallory:" + SeededApi.Password), "unknown user" },
        { "Bearer pgv_not-a-real-token", "bad token" },
        { "Bearer " + SeededApi.AdminToken + "x", "token with an extra character" },
        { "Bearer ", "empty bearer" },
        { "Basic !!!notbase64", "malformed basic" },
        { "Basic " + B64("no-colon-here"), "basic without colon" },
        { "Digest username=\"alice\"", "unsupported scheme" },
        { "garbage", "malformed header" },
    };

    [Theory]
    [MemberData(nameof(BadCredentials))]
    public async Task Missing_or_wrong_credentials_answer_401_with_a_challenge(string? authorization, string because)
    {
        foreach (var url in new[] { "/clusters/backups", $"/clusters/backups/{api.Backups[0].Id}", $"/clusters/{SeededApi.ClusterA}/backups",
                     "/clusters", "/databases/postgresql/clusters/backups", "/openapi.json" })
        {
            using var client = api.Server.Client((AuthenticationHeaderValue?)null);
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (authorization is not null)
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            var (code, _) = Json.AssertError(response, body, HttpStatusCode.Unauthorized);
            Assert.Equal("PGV-0103", code);
            var challenges = response.Headers.WwwAuthenticate.Select(h => h.Scheme).ToList();
            Assert.Contains("Basic", challenges);
            Assert.Contains("Bearer", challenges);
            Assert.DoesNotContain(SeededApi.Password, body, StringComparison.Ordinal);
            _ = because;
        }
    }

    [Fact]
    public async Task Health_needs_no_credentials()
    {
        using var client = api.Server.Client((AuthenticationHeaderValue?)null);
        var (status, body, _) = await Json.GetAsync(client, "/healthz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ok", Json.Parse(body)["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Basic_and_bearer_credentials_are_accepted()
    {
        using var basic = api.Server.BasicClient("alice", SeededApi.Password);
        for (var i = 0; i < 3; i++) // the second and third are served from the verified-credential cache
            Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(basic, "/clusters/backups?limit=1")).Status);
        using var bearer = api.Server.Client(SeededApi.AdminToken);
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(bearer, "/clusters/backups?limit=1")).Status);
        using var lower = api.Server.Client(new AuthenticationHeaderValue("bearer", SeededApi.AdminToken));
        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(lower, "/clusters/backups?limit=1")).Status);
    }

    [Fact]
    public async Task A_scoped_token_sees_only_its_clusters_and_others_look_nonexistent()
    {
        using var scoped = api.Server.Client(SeededApi.ScopedToken);
        var all = Json.Parse((await Json.GetAsync(scoped, "/clusters/backups?limit=1000")).Body);
        var ids = all["items"]!.AsArray().Select(i => i!["properties"]!["clusterId"]!.GetValue<string>()).Distinct().ToList();
        Assert.Equal([SeededApi.ClusterB], ids);
        Assert.Equal(api.Backups.Count(b => b.ClusterId == SeededApi.ClusterB), all["items"]!.AsArray().Count);

        var clusters = Json.Parse((await Json.GetAsync(scoped, "/clusters")).Body);
        Assert.Equal([SeededApi.ClusterB], clusters["items"]!.AsArray().Select(i => i!["id"]!.GetValue<string>()));

        // Another cluster's backup answers exactly like a backup that does not exist.
        var otherId = api.Backups.First(b => b.ClusterId == SeededApi.ClusterA).Id;
        var (_, otherBody, otherResponse) = await Json.GetAsync(scoped, $"/clusters/backups/{otherId}");
        var (_, missingBody, missingResponse) = await Json.GetAsync(scoped, "/clusters/backups/no-such-backup");
        var other = Json.AssertError(otherResponse, otherBody, HttpStatusCode.NotFound);
        var missing = Json.AssertError(missingResponse, missingBody, HttpStatusCode.NotFound);
        Assert.Equal(missing.Code, other.Code);
        Assert.Equal(missing.Message.Replace("no-such-backup", "ID", StringComparison.Ordinal),
            other.Message.Replace(otherId, "ID", StringComparison.Ordinal));

        foreach (var url in new[] { $"/clusters/{SeededApi.ClusterA}/backups", $"/clusters/{SeededApi.ClusterA}" })
        {
            var (_, body, response) = await Json.GetAsync(scoped, url);
            Json.AssertError(response, body, HttpStatusCode.NotFound);
        }

        Assert.Equal(HttpStatusCode.OK, (await Json.GetAsync(scoped, $"/clusters/{SeededApi.ClusterB}/backups")).Status);
    }
}
