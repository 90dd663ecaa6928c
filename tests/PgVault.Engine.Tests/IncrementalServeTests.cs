using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// Typed base backups in <c>serve</c> against a real PostgreSQL: the first base backup of a backup is a full one with a
/// block map (the typed schedules' default), <c>POST /clusters/{id}/backups</c> takes a type in the query or the body,
/// the catalog and the API show each base backup's type, and <c>pgvault catalog rebuild</c> restores the types.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class IncrementalServeTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The engine settings with the typed schedules in effect (nothing due while the test runs).</summary>
    internal static Dictionary<string, string?> TypedSettings(string clusterId, PostgresCluster pg, TempDirectory data)
    {
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings.Remove("PgVault:Clusters:0:BaseBackupSchedule");
        settings["PgVault:Clusters:0:FullBackupSchedule"] = "0 0 1 1 *";
        settings["PgVault:Clusters:0:IncrementalBackupSchedule"] = "";
        settings["PgVault:DataDirectory"] = data.Path;
        return settings;
    }

    [Fact]
    public async Task POST_takes_a_type_and_the_API_the_catalog_and_a_rebuilt_catalog_show_each_base_backups_type()
    {
        await using var pg = await PostgresCluster.StartAsync("incr-serve", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "1", "-q");
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("incr-serve-data");
        var settings = TypedSettings(clusterId, pg, data);
        string backupId;
        string before;
        await using (var server = await ApiServer.StartAsync("incr-serve", settings, dataDirectory: data))
        {
            using var http = server.Client(StreamingAndBaseBackupTests.Token);
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
                Bounded, "the first base backup");
            backupId = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
            var first = Assert.Single(await server.Catalog.ListBaseBackupsAsync(backupId, Ct));
            Assert.Equal("full", first.Type);

            // Refused before anything starts: an unknown type, query and body that disagree, a body that is not JSON.
            var url = $"/clusters/{clusterId}/backups";
            using (var bad = await http.PostAsync(new Uri(url + "?type=weekly", UriKind.Relative), null, Ct))
                Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            using (var disagree = await http.PostAsync(new Uri(url + "?type=incr", UriKind.Relative), Json("""{"type":"diff"}"""), Ct))
                Assert.Equal(HttpStatusCode.BadRequest, disagree.StatusCode);
            using (var text = await http.PostAsync(new Uri(url, UriKind.Relative), new StringContent("incr", Encoding.UTF8, "text/plain"), Ct))
                Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);

            await Pg.PgbenchAsync(pg, "-n", "-t", "100", "-c", "1");
            var incr = await StartAndFollowAsync(http, new Uri(url + "?type=incr", UriKind.Relative), null, "incr");
            await Pg.PgbenchAsync(pg, "-n", "-t", "100", "-c", "1");
            var diff = await StartAndFollowAsync(http, new Uri(url, UriKind.Relative), Json("""{"type":"diff"}"""), "diff");

            var listed = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/backups/{backupId}/basebackups", UriKind.Relative), Ct))!;
            Assert.Equal([diff, incr, first.Label], listed["items"]!.AsArray().Select(i => i!["id"]!.GetValue<string>()));
            Assert.Equal(["diff", "incr", "full"], listed["items"]!.AsArray().Select(i => i!["properties"]!["type"]!.GetValue<string>()));
            Assert.Equal(["full", "incr", "diff"], (await server.Catalog.ListBaseBackupsAsync(backupId, Ct)).Select(b => b.Type));
            before = listed["items"]!.ToJsonString();
        }

        // The repository says the same, and a rebuilt catalog shows it.
        var chain = Assert.Single(await ChainRepository.ScanAsync(new LocalObjectStore(Path.Combine(data.Path, "repository")), clusterId, Ct));
        Assert.Equal([BaseBackupType.Full, BaseBackupType.Incr, BaseBackupType.Diff],
            chain.BaseBackups.OrderBy(b => b.Label, StringComparer.Ordinal).Select(b => b.Metadata!.Type));
        Assert.All(chain.BaseBackups, b => Assert.NotNull(b.Metadata!.BlockMap)); // the first one too: a typed full one
        var cli = new Dictionary<string, string?>(settings) { ["PgVault:Engine:Enabled"] = "false" };
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var f in Directory.GetFiles(data.Path, "catalog.db*"))
            File.Delete(f);
        var (rebuilt, rebuildOutput) = await PgVaultProcess.RunAsync(["catalog", "rebuild"], cli);
        Assert.True(rebuilt == 0, rebuildOutput);
        await using (var server = await ApiServer.StartAsync("incr-serve-rebuilt", cli, dataDirectory: data))
        {
            using var http = server.Client(StreamingAndBaseBackupTests.Token);
            var listed = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/backups/{backupId}/basebackups", UriKind.Relative), Ct))!;
            Assert.Equal(before, listed["items"]!.ToJsonString());
        }
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>POSTs, checks the 202's type, follows Location until AVAILABLE; the label.</summary>
    private static async Task<string> StartAndFollowAsync(HttpClient http, Uri uri, HttpContent? body, string type)
    {
        using var response = await http.PostAsync(uri, body, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, text);
        var started = JsonNode.Parse(text)!;
        Assert.Equal(type, started["properties"]!["type"]!.GetValue<string>());
        var location = response.Headers.Location!.OriginalString;
        JsonNode? followed = null;
        await Wait.UntilAsync(async () =>
        {
            followed = JsonNode.Parse(await http.GetStringAsync(new Uri(location, UriKind.Relative), Ct))!;
            return followed["metadata"]!["state"]!.GetValue<string>() is "AVAILABLE" or "FAILED";
        }, Bounded, $"the {type} base backup to end");
        Assert.True(followed!["metadata"]!["state"]!.GetValue<string>() == "AVAILABLE", followed.ToJsonString());
        Assert.Equal(type, followed["properties"]!["type"]!.GetValue<string>());
        return started["id"]!.GetValue<string>();
    }
}
