using System.Net;
using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Catalog.Sqlite;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>Base backups on demand: <c>pgvault backup</c> without a server, and <c>POST /clusters/{id}/backups</c> with one.</summary>
[Trait("Category", "Postgres")]
public sealed class OnDemandBackupTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_backup_command_takes_a_restorable_base_backup_and_exits()
    {
        await using var pg = await PostgresCluster.StartAsync("cli-backup", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "2", "-q");
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("cli-backup-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:DataDirectory"] = data.Path;

        var (code, output) = await PgVaultProcess.RunAsync(["backup", "--cluster", clusterId.ToUpperInvariant()], settings);
        Assert.True(code == 0, output);
        Assert.Matches("base backup [0-9TZ]+ of .* complete: [0-9.]+ MB copied, [0-9.]+ MB stored, consistent at [0-9A-F]+/[0-9A-F]+", output);
        Assert.Contains("base backup: ", output, StringComparison.Ordinal); // progress lines (no terminal here)

        var catalog = new SqliteCatalog($"Data Source={Path.Combine(data.Path, "catalog.db")}");
        var backup = await catalog.GetActiveBackupAsync(clusterId, Ct);
        Assert.NotNull(backup);
        var bases = await catalog.ListBaseBackupsAsync(backup.Id, Ct);
        Assert.Equal(BaseBackupState.Complete, Assert.Single(bases).State);
        Assert.True(backup.EndLsn >= bases[0].EndLsn, "the WAL the base backup needs is stored");
        Assert.NotNull(backup.EarliestRecoveryTargetTime);

        var (unknown, unknownOutput) = await PgVaultProcess.RunAsync(["backup", "--cluster", Guid.NewGuid().ToString()], settings);
        Assert.Equal(1, unknown);
        Assert.Contains("is not configured", unknownOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task POST_starts_a_base_backup_of_the_active_backup_and_answers_202()
    {
        await using var pg = await PostgresCluster.StartAsync("post-backup", ct: Ct);
        var clusterId = Guid.NewGuid().ToString();
        await using var server = await ApiServer.StartAsync("post-backup", StreamingAndBaseBackupTests.Settings(clusterId, pg));
        using var http = server.Client("pgv_engine-test-0123456789abcdefghijklmnopqrstu");
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
            Bounded, "the first base backup");
        var active = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
        await Wait.UntilAsync(async () => (await server.Catalog.ListBaseBackupsAsync(active.Id, Ct)).All(b => b.State != BaseBackupState.Running),
            Bounded, "no base backup running");

        using var response = await http.PostAsync(new Uri($"/databases/postgresql/clusters/{clusterId}/backups", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        // The answer is the base backup just started (BUSY), and Location follows it.
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("basebackup", body["type"]!.GetValue<string>());
        Assert.Equal("BUSY", body["metadata"]!["state"]!.GetValue<string>());
        var label = body["id"]!.GetValue<string>();
        Assert.Equal(label, body["properties"]!["label"]!.GetValue<string>());
        Assert.Equal(active.Id, body["properties"]!["backupId"]!.GetValue<string>());
        Assert.Equal("full", body["properties"]!["type"]!.GetValue<string>());
        Assert.Contains(await server.Catalog.ListBaseBackupsAsync(active.Id, Ct), b => b.Label == label);
        var location = response.Headers.Location?.OriginalString;
        Assert.Equal($"/databases/postgresql/clusters/backups/{active.Id}/basebackups/{label}", location);
        await Wait.UntilAsync(async () =>
        {
            var followed = JsonNode.Parse(await http.GetStringAsync(new Uri(location!, UriKind.Relative), Ct))!;
            return followed["metadata"]!["state"]!.GetValue<string>() == "AVAILABLE";
        }, Bounded, "the started base backup, followed by its Location, to be AVAILABLE");
        Assert.Equal(2, (await server.Catalog.ListBaseBackupsAsync(active.Id, Ct)).Count(b => b.State == BaseBackupState.Complete));
        var listed = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/backups/{active.Id}/basebackups", UriKind.Relative), Ct))!;
        Assert.Equal(label, listed["items"]![0]!["id"]!.GetValue<string>()); // newest first

        using var unknown = await http.PostAsync(new Uri($"/clusters/{Guid.NewGuid()}/backups", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        // While the server streams through the slot, the CLI says to use the API instead of waiting.
        var cli = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        cli["PgVault:DataDirectory"] = server.DataDirectory;
        var (code, output) = await PgVaultProcess.RunAsync(["backup", "--cluster", clusterId], cli);
        Assert.Equal(1, code);
        Assert.Contains($"POST /clusters/{clusterId}/backups", output, StringComparison.Ordinal);
    }
}
