using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary><c>pgvault verify</c> and <c>pgvault catalog rebuild</c> on a real repository.</summary>
[Trait("Category", "Postgres")]
public sealed class VerifyAndRebuildTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Rebuild_reproduces_the_API_output_and_verify_names_corrupt_and_missing_objects()
    {
        await using var pg = await PostgresCluster.StartAsync("rebuild", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "2", "-q");
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("rebuild-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);

        await using (var server = await ApiServer.StartAsync("rebuild", settings, dataDirectory: data))
        {
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
                Bounded, "the first base backup");
            // Some more WAL, then finish its segment, so the chain holds whole segments after the base backup.
            await Pg.PgbenchAsync(pg, "-c", "2", "-t", "300", "-n");
            var switched = Lsn.Parse(await Pg.ScalarAsync<string>(pg, "SELECT pg_switch_wal()::text"));
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= switched.Value, Bounded,
                "the switched segment in the repository");
            await Wait.FinishedSegmentsWholeAsync(new LocalObjectStore(Path.Combine(data.Path, "repository")), clusterId, Bounded);
        }

        var readOnly = new Dictionary<string, string?>(settings) { ["PgVault:Engine:Enabled"] = "false" };
        var before = await ApiViewAsync(data, readOnly, clusterId);

        var cli = new Dictionary<string, string?>(readOnly) { ["PgVault:DataDirectory"] = data.Path };
        var (ok, okOutput) = await PgVaultProcess.RunAsync(["verify"], cli);
        Assert.True(ok == 0, okOutput);
        Assert.Contains("1 ok, 0 with problems", okOutput, StringComparison.Ordinal);

        // Losing the catalog loses nothing: rebuild it from the repository.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var f in Directory.GetFiles(data.Path, "catalog.db*"))
            File.Delete(f);
        var (rebuilt, rebuildOutput) = await PgVaultProcess.RunAsync(["catalog", "rebuild"], cli);
        Assert.True(rebuilt == 0, rebuildOutput);
        var after = await ApiViewAsync(data, readOnly, clusterId);
        Assert.Equal(before, after);

        // Corrupt one WAL segment and delete another: verify fails and names both.
        var repository = new LocalObjectStore(Path.Combine(data.Path, "repository"));
        var chain = (await RepositoryScanner.ScanAsync(repository, clusterId, Ct)).Single();
        var segments = chain.Wal.Where(w => !w.Partial).OrderBy(w => w.Segment).ToList();
        Assert.True(segments.Count >= 3, $"expected at least 3 whole segments, found {segments.Count}");
        var corrupt = segments[^1];
        var missing = segments[^2];
        var path = Path.Combine(data.Path, "repository", corrupt.Key);
        var bytes = await File.ReadAllBytesAsync(path, Ct);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(path, bytes, Ct);
        File.Delete(Path.Combine(data.Path, "repository", missing.Key));

        var (failed, failedOutput) = await PgVaultProcess.RunAsync(["verify", "--backup-id", chain.Metadata!.BackupId], cli);
        Assert.Equal(1, failed);
        Assert.Contains(corrupt.Key, failedOutput, StringComparison.Ordinal);
        Assert.Contains($"missing WAL segment {WalSegment.Name(1, missing.Segment)}", failedOutput, StringComparison.Ordinal);
        Assert.Contains("0 ok, 1 with problems", failedOutput, StringComparison.Ordinal);
    }

    /// <summary>What the API shows of the cluster's backups (items only: links carry the server's port).</summary>
    private static async Task<string> ApiViewAsync(TempDirectory data, Dictionary<string, string?> settings, string clusterId)
    {
        await using var server = await ApiServer.StartAsync("rebuild-view", settings, dataDirectory: data);
        using var http = server.Client("pgv_engine-test-0123456789abcdefghijklmnopqrstu");
        var list = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/{clusterId}/backups", UriKind.Relative), Ct))!;
        var items = list["items"]!.AsArray();
        Assert.Single(items);
        var one = await http.GetStringAsync(new Uri($"/clusters/backups/{items[0]!["id"]!.GetValue<string>()}", UriKind.Relative), Ct);
        return items.ToJsonString() + "\n" + one;
    }
}
