using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary><c>pgvault check</c> against a real PostgreSQL and repository, and <c>verify</c> on an empty repository.</summary>
[Trait("Category", "Postgres")]
public sealed class CheckCommandTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_good_set_up_with_serve_running_passes_every_check_including_a_forced_WAL_switch_and_restores_with_four_jobs()
    {
        await using var pg = await PostgresCluster.StartAsync("check-ok", "max_slot_wal_keep_size = 1GB", Ct);
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("check-ok-data");
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        await using var server = await ApiServer.StartAsync("check-ok", settings, dataDirectory: data);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
            Bounded, "the first base backup");

        // The check runs beside serve, reading the same configuration (Engine off: check starts no streaming itself).
        var cli = new Dictionary<string, string?>(settings) { ["PgVault:DataDirectory"] = data.Path };
        var (code, output) = await PgVaultProcess.RunAsync(["check"], cli);
        Assert.True(code == 0, output);
        Assert.DoesNotContain("warning ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("error ", output, StringComparison.Ordinal);
        Assert.Contains($"ok      cluster {clusterId}: wal_switch: a forced WAL switch at", output, StringComparison.Ordinal);
        Assert.Contains($"ok      cluster {clusterId}: slot: replication slot", output, StringComparison.Ordinal);
        Assert.Contains("ok      location local: storage: filesystem: write, read, list and delete", output, StringComparison.Ordinal);

        // The JSON document: versioned, one entry per check, nothing left behind under check/.
        var (jsonCode, json) = await PgVaultProcess.RunAsync(["check", "--cluster", clusterId, "--output", "json"], cli);
        Assert.True(jsonCode == 0, json);
        var doc = JsonNode.Parse(json)!;
        Assert.Equal(1, doc["version"]!.GetValue<int>());
        Assert.True(doc["ok"]!.GetValue<bool>());
        Assert.Equal(0, doc["errors"]!.GetValue<int>());
        var checks = doc["checks"]!.AsArray();
        Assert.Contains(checks, c => c!["check"]!.GetValue<string>() == "wal_switch" && c["status"]!.GetValue<string>() == "ok");
        Assert.All(checks, c => Assert.Equal(["check", "subject", "status", "message", "fix"], c!.AsObject().Select(p => p.Key)));
        Assert.False(Directory.Exists(Path.Combine(data.Path, "repository", "check")) &&
                     Directory.EnumerateFiles(Path.Combine(data.Path, "repository", "check")).Any(), "a probe object was left behind");

        // restore --jobs 4 (Engine:RestoreJobs is 2 by default) restores a working cluster.
        var backupId = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
        using var target = new TempDirectory("check-restored");
        var (restored, restoreOutput) = await PgVaultProcess.RunAsync(
            ["restore", "--backup-id", backupId, "--to", target.Path, "--jobs", "4", "--verify"], cli, TimeSpan.FromMinutes(5));
        Assert.True(restored == 0, restoreOutput);
        Assert.Contains("pg_amcheck --all found no corruption", restoreOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_names_a_wrong_password_an_unbounded_slot_and_an_unwritable_location_and_verify_refuses_an_empty_repository()
    {
        // The fixture's default max_slot_wal_keep_size is PostgreSQL's: -1.
        await using var pg = await PostgresCluster.StartAsync("check-bad", ct: Ct);
        await pg.ExecuteAsync("CREATE ROLE checker LOGIN REPLICATION PASSWORD 'right-password'", ct: Ct);
        // Passwords are checked for this role only (the fixture trusts everyone else), before the fixture's lines.
        var hba = Path.Combine(pg.DataDirectory, "pg_hba.conf");
        await File.WriteAllTextAsync(hba,
            "host all checker 127.0.0.1/32 scram-sha-256\nhost replication checker 127.0.0.1/32 scram-sha-256\n" +
            await File.ReadAllTextAsync(hba, Ct), Ct);
        await pg.ExecuteAsync("SELECT pg_reload_conf()", ct: Ct);

        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("check-bad-data");
        Dictionary<string, string?> Settings(string password) => new(StreamingAndBaseBackupTests.Settings(clusterId, pg))
        {
            ["PgVault:DataDirectory"] = data.Path,
            ["PgVault:Clusters:0:ConnectionString"] = new Npgsql.NpgsqlConnectionStringBuilder(pg.ConnectionString())
            {
                Username = "checker", Password = password,
            }.ToString(),
        };

        var (good, goodOutput) = await PgVaultProcess.RunAsync(["check"], Settings("right-password"));
        Assert.True(good == 0, goodOutput);
        Assert.Contains($"warning cluster {clusterId}: max_slot_wal_keep_size: max_slot_wal_keep_size = -1 (unbounded)", goodOutput,
            StringComparison.Ordinal);
        Assert.Contains("(fix: set max_slot_wal_keep_size", goodOutput, StringComparison.Ordinal);
        Assert.Contains($"ok      cluster {clusterId}: replication: replication connection works", goodOutput, StringComparison.Ordinal);

        var (wrong, wrongOutput) = await PgVaultProcess.RunAsync(["check"], Settings("wrong-password"));
        Assert.True(wrong == 1, wrongOutput);
        Assert.Contains($"error   cluster {clusterId}: connection: cannot connect:", wrongOutput, StringComparison.Ordinal);
        Assert.Contains("password authentication failed", wrongOutput, StringComparison.Ordinal);
        Assert.Contains("(fix: check the cluster's ConnectionString", wrongOutput, StringComparison.Ordinal);

        // A filesystem location below a regular file: nothing can be created there (whoever runs the test, root included).
        var blocker = Path.Combine(data.Path, "not-a-directory");
        await File.WriteAllTextAsync(blocker, "x", Ct);
        var unwritable = new Dictionary<string, string?>(Settings("right-password"))
        {
            ["PgVault:Locations:local:Type"] = "filesystem",
            ["PgVault:Locations:local:Path"] = Path.Combine(blocker, "repository"),
        };
        var (blocked, blockedOutput) = await PgVaultProcess.RunAsync(["check", "--output", "json"], unwritable);
        Assert.True(blocked == 1, blockedOutput);
        var doc = JsonNode.Parse(blockedOutput[..(blockedOutput.LastIndexOf('}') + 1)])!;
        Assert.False(doc["ok"]!.GetValue<bool>());
        var storage = doc["checks"]!.AsArray().Single(c => c!["check"]!.GetValue<string>() == "storage")!;
        Assert.Equal("error", storage["status"]!.GetValue<string>());
        Assert.Equal("location local", storage["subject"]!.GetValue<string>());
        Assert.StartsWith("filesystem: ", storage["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("make PgVault:Locations:local:Path a directory", storage["fix"]!.GetValue<string>(), StringComparison.Ordinal);

        // verify on a repository without any backup: says so, exit 1 (not "0 ok").
        var (empty, emptyOutput) = await PgVaultProcess.RunAsync(["verify"], Settings("right-password"));
        Assert.True(empty == 1, emptyOutput);
        Assert.Contains("no backup found in the configured location(s) (local)", emptyOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("0 ok", emptyOutput, StringComparison.Ordinal);
    }
}
