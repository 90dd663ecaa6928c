using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>The IONOS in-place restore: <c>POST /clusters/{id}/restore</c> against a real cluster PgVault backs up.</summary>
[Trait("Category", "Postgres")]
public sealed class InPlaceRestoreTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonNode> GetAsync(HttpClient http, string path) =>
        JsonNode.Parse(await http.GetStringAsync(new Uri(path, UriKind.Relative), Ct))!;

    private static async Task<HttpResponseMessage> RestoreAsync(HttpClient http, string clusterId, string body, string prefix = "") =>
        await http.PostAsync(new Uri($"{prefix}/clusters/{clusterId}/restore", UriKind.Relative), Json(body), Ct);

    private static async Task<long> MarkersAsync(PostgresCluster pg) => await Pg.ScalarAsync<long>(pg, "SELECT count(*) FROM marker");

    /// <summary>Restores of the cluster that have ended (successfully or not), by their closing log lines.</summary>
    private static int Ended(ApiServer server, string clusterId) =>
        server.Logs.Lines.Count(l => l.Contains($"cluster {clusterId}: restored in place", StringComparison.Ordinal)
                                     || (l.Contains($"cluster {clusterId}: in-place restore", StringComparison.Ordinal) && l.Contains("failed", StringComparison.Ordinal)));

    private static string RestoreLog(ApiServer server) =>
        string.Join("\n", server.Logs.Lines.Where(l => l.Contains("restore", StringComparison.OrdinalIgnoreCase)));

    /// <summary>Waits for the restore's closing log line; fails with the log if it failed.</summary>
    private static async Task WaitForRestoreAsync(ApiServer server, string clusterId, int nth)
    {
        await Wait.UntilAsync(() => Task.FromResult(Ended(server, clusterId) >= nth), TimeSpan.FromMinutes(4), $"in-place restore #{nth} to end");
        Assert.True(Ended(server, clusterId) == server.Logs.Lines.Count(l => l.Contains($"cluster {clusterId}: restored in place", StringComparison.Ordinal)),
            "the in-place restore failed: " + RestoreLog(server));
        Npgsql.NpgsqlConnection.ClearAllPools(); // the cluster was restarted: pooled connections are gone
    }

    private static async Task WaitDurableAsync(ApiServer server, PostgresCluster pg, string clusterId)
    {
        var lsn = await Pg.InsertLsnAsync(pg);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.EndLsn >= lsn.Value, Bounded,
            $"the repository's WAL to reach {lsn}");
    }

    [Fact]
    public async Task An_in_place_restore_through_the_API_starts_a_new_chain_and_a_second_restore_from_it_works()
    {
        await using var pg = await PostgresCluster.StartAsync("inplace", "track_commit_timestamp = on", ct: Ct);
        await pg.ExecuteAsync("CREATE TABLE marker (n int PRIMARY KEY)", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        var elsewhere = Guid.NewGuid().ToString();
        using var data = new TempDirectory("inplace-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;
        settings["PgVault:Clusters:0:DataDirectory"] = pg.DataDirectory;
        // A second cluster PgVault knows but whose data directory is not on this machine.
        settings["PgVault:Clusters:1:Id"] = elsewhere;
        settings["PgVault:Clusters:1:ConnectionString"] = "Host=127.0.0.1;Port=1;Username=postgres;Timeout=1";
        settings["PgVault:Clusters:1:BaseBackupSchedule"] = "0 0 1 1 *";
        await using var server = await ApiServer.StartAsync("inplace", settings, dataDirectory: data);
        using var http = server.Client(StreamingAndBaseBackupTests.Token);

        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available, Bounded,
            "the first base backup");
        for (var n = 1; n <= 10; n++)
            await pg.ExecuteAsync($"INSERT INTO marker SELECT {n} FROM pg_sleep(0.05)", ct: Ct);
        await WaitDurableAsync(server, pg, clusterId);
        var commits = new List<DateTimeOffset>();
        await using (var conn = await pg.OpenAsync(ct: Ct))
        {
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT pg_xact_commit_timestamp(xmin) FROM marker ORDER BY n", conn);
            await using var r = await cmd.ExecuteReaderAsync(Ct);
            while (await r.ReadAsync(Ct))
                commits.Add(new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(0), DateTimeKind.Utc)));
        }

        var first = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
        var target = commits[4] + ((commits[5] - commits[4]) / 2); // after marker 5, before marker 6
        var targetText = target.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

        // Refusals, each in the ErrorResponse shape and before anything is touched.
        using (var r = await RestoreAsync(http, Guid.NewGuid().ToString(), $$"""{"backupId":"{{first}}"}"""))
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        using (var r = await RestoreAsync(http, clusterId, $$"""{"backupId":"{{clusterId}}-0000000000000000-15"}"""))
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        using (var r = await RestoreAsync(http, clusterId, $$"""{"backupId":"{{first}}","recoveryTargetTime":"2020-01-01T00:00:00Z"}"""))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, r.StatusCode);
            Assert.Contains("recovery window", await r.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        using (var r = await RestoreAsync(http, elsewhere, $$"""{"backupId":"{{first}}"}"""))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, r.StatusCode);
            Assert.Contains("DataDirectory", await r.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        using (var r = await RestoreAsync(http, clusterId, "{}"))
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        using (var r = await http.PostAsync(new Uri($"/clusters/{clusterId}/restore", UriKind.Relative), new StringContent("x"), Ct))
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, r.StatusCode);
        Assert.Equal(10, await MarkersAsync(pg));

        // The restore: 202, a second request meanwhile 409, the cluster BUSY.
        using (var r = await RestoreAsync(http, clusterId, $$"""{"backupId":"{{first}}","recoveryTargetTime":"{{targetText}}"}""", "/databases/postgresql"))
            Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        using (var r = await RestoreAsync(http, clusterId, $$"""{"backupId":"{{first}}"}"""))
            Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
        var sawBusy = false;
        await Wait.UntilAsync(async () =>
        {
            sawBusy |= (await GetAsync(http, $"/clusters/{clusterId}"))["metadata"]!["state"]!.GetValue<string>() == "BUSY";
            return sawBusy || Ended(server, clusterId) > 0;
        }, Bounded, "the cluster to show BUSY");
        Assert.True(sawBusy, "GET /clusters/{id} never showed BUSY during the restore; log: " + RestoreLog(server));
        await WaitForRestoreAsync(server, clusterId, 1);
        Assert.Equal(5, await MarkersAsync(pg));
        Assert.NotEmpty(Directory.GetDirectories(Path.GetDirectoryName(pg.DataDirectory)!, "data.pgvault-before-restore-*"));

        // The cluster is on a new timeline that left the old chain before its end: a new active chain; both listed.
        string second = "";
        try
        {
            await Wait.UntilAsync(async () =>
            {
                var active = await server.Catalog.GetActiveBackupAsync(clusterId, Ct);
                second = active?.Id ?? "";
                return active is not null && active.Id != first && active.State == BackupState.Available;
            }, Bounded, "a new active backup with a complete base backup");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Assert.Fail(ex.Message + "; engine log:\n" + string.Join("\n", server.Logs.Lines.Where(l => l.Contains(clusterId, StringComparison.Ordinal)
                && !l.Contains("RequestLogging", StringComparison.Ordinal)).TakeLast(30)));
        }
        var items = (await GetAsync(http, $"/clusters/{clusterId}/backups"))["items"]!.AsArray();
        Assert.Equal(2, items.Count);
        Assert.False(items.Single(i => i!["id"]!.GetValue<string>() == first)!["properties"]!["isActive"]!.GetValue<bool>());
        Assert.True(items.Single(i => i!["id"]!.GetValue<string>() == second)!["properties"]!["isActive"]!.GetValue<bool>());
        Assert.Equal("AVAILABLE", (await GetAsync(http, $"/clusters/{clusterId}"))["metadata"]!["state"]!.GetValue<string>());

        // A second restore, from the new chain, to its latest point.
        for (var n = 101; n <= 103; n++)
            await pg.ExecuteAsync($"INSERT INTO marker VALUES ({n})", ct: Ct);
        await WaitDurableAsync(server, pg, clusterId);
        using (var r = await RestoreAsync(http, clusterId, $$"""{"backupId":"{{second}}"}"""))
            Assert.Equal(HttpStatusCode.Accepted, r.StatusCode);
        await WaitForRestoreAsync(server, clusterId, 2);
        Assert.Equal(8, await MarkersAsync(pg));
        await Wait.UntilAsync(async () => (await GetAsync(http, $"/clusters/{clusterId}"))["metadata"]!["state"]!.GetValue<string>() == "AVAILABLE",
            Bounded, "the cluster to be backed up again after the second restore");
    }
}
