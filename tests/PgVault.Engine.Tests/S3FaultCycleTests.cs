using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage.Encryption;
using PgVault.Postgres;
using PgVault.Storage.S3;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// Issue 5's fault tests: the whole cycle (base backup under load, WAL streaming, <c>restore --verify</c>) into an
/// encrypted s3 location through <see cref="FaultProxy"/> failing a random fifth of the requests, and the S3 service
/// down for 60 s while WAL streams (the slot keeps the WAL, the backup turns DEGRADED, then catches up with no gap).
/// </summary>
[Trait("Category", "Postgres")]
[Trait("Category", "S3")]
public sealed class S3FaultCycleTests(S3ServerFixture fixture) : IClassFixture<S3ServerFixture>
{
    private const string Token = "pgv_engine-test-0123456789abcdefghijklmnopqrstu";
    private const string Location = "s3";
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_full_cycle_through_a_proxy_failing_a_fifth_of_requests_restores_the_same_dump()
    {
        var s3 = fixture.Server;
        await using var proxy = new FaultProxy(s3.Endpoint) { SlowDelay = TimeSpan.FromSeconds(1) };
        proxy.SetPolicy(FaultProxy.Random(0.2, seed: 45));
        await using var pg = await PostgresCluster.StartAsync("s3cycle", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "2", "-q");
        var clusterId = Guid.NewGuid().ToString();
        using var data = new TempDirectory("s3cycle-data");
        var (settings, _) = S3Settings(clusterId, pg, proxy.Endpoint);

        string backupId;
        await using (var server = await ApiServer.StartAsync("s3cycle", settings, dataDirectory: data))
        {
            // The base backup runs under load; WAL streams all along.
            var load = Pg.PgbenchAsync(pg, "-c", "2", "-T", "10", "-n");
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
                Bounded, "the backup in S3 to become AVAILABLE through the faulty proxy");
            await load;
            var insert = await Pg.InsertLsnAsync(pg);
            await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= insert.Value, Bounded,
                $"the WAL in S3 to reach {insert}");
            backupId = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.Id;
        }

        var dumpA = await RestoreTests.DumpAllAsync(pg, pg.Port);
        var faultsBeforeRestore = proxy.FaultCount;
        var requestsBeforeRestore = proxy.Log.Count;

        // wal-fetch, started by the restored PostgreSQL (as the postgres user), reads the location from this file.
        settings["PgVault:Engine:Enabled"] = "false";
        settings["PgVault:DataDirectory"] = data.Path;
        var config = await WriteConfigAsync(data, settings);
        using var target = new TempDirectory("s3cycle-restored");
        var (code, output) = await PgVaultProcess.RunAsync(
            ["restore", "--config", config, "--backup-id", backupId, "--to", target.Path, "--verify"],
            new Dictionary<string, string?>(), TimeSpan.FromMinutes(6));
        Assert.True(code == 0, output);
        Assert.Contains("pg_amcheck --all found no corruption", output, StringComparison.Ordinal);

        var dumpB = "";
        await RestoreTests.WithServerAsync(pg, target.Path, async port => dumpB = await RestoreTests.DumpAllAsync(pg, port));
        Assert.Equal(dumpA, dumpB);

        // The faults hit both halves, the backup and the restore (base backup parts and wal-fetch). The backup makes as few
        // as 30 requests, so the bound is loose: at least one fault in each half and five in all (0.8^30: about 1 in 800
        // runs would see no backup fault at all).
        var backupRequests = requestsBeforeRestore;
        var restoreRequests = proxy.Log.Count - requestsBeforeRestore;
        var restoreFaults = proxy.FaultCount - faultsBeforeRestore;
        var summary = $"{faultsBeforeRestore} of {backupRequests} backup requests and {restoreFaults} of {restoreRequests} restore requests were faulted";
        Assert.True(faultsBeforeRestore >= 1 && restoreFaults >= 1 && faultsBeforeRestore + restoreFaults >= 5, summary);
        TestContext.Current.SendDiagnosticMessage(summary);
    }

    /// <summary>
    /// The S3 service down for the 60 s of the issue (the proxy resets every connection), with a lag threshold of 5 s so
    /// the DEGRADED state shows well inside the outage.
    /// </summary>
    [Fact]
    public async Task With_S3_down_for_60_s_streaming_holds_its_position_shows_DEGRADED_and_catches_up_without_a_gap()
    {
        var outage = TimeSpan.FromSeconds(60);
        var s3 = fixture.Server;
        await using var proxy = new FaultProxy(s3.Endpoint);
        await using var pg = await PostgresCluster.StartAsync("s3down", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "1", "-q");
        var clusterId = Guid.NewGuid().ToString();
        var (settings, key) = S3Settings(clusterId, pg, proxy.Endpoint);
        settings["PgVault:Engine:WalLagThreshold"] = "00:00:05";
        var slot = new ClusterOptions { Id = clusterId }.SlotName;
        await using var server = await ApiServer.StartAsync("s3down", settings);
        using var http = server.Client(Token);

        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
            Bounded, "the backup in S3 to become AVAILABLE");
        var before = await Pg.InsertLsnAsync(pg);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= before.Value, Bounded,
            $"the WAL in S3 to reach {before}");
        Assert.Equal("AVAILABLE", await StateAsync(http, clusterId));

        // S3 goes down while the cluster keeps writing: a light load, and segment switches so whole segments wait too.
        proxy.Down = true;
        var down = DateTimeOffset.UtcNow;
        var load = Pg.PgbenchAsync(pg, "-c", "1", "-T", ((int)outage.TotalSeconds - 5).ToString(CultureInfo.InvariantCulture), "-R", "50", "-n");
        var states = new List<string>();
        Lsn restartAtStart = default, restart = default;
        ulong durable = 0;
        var samples = 0;
        while (DateTimeOffset.UtcNow - down < outage)
        {
            await Task.Delay(TimeSpan.FromSeconds(2), Ct);
            if (samples % 5 == 4)
                await Pg.ScalarAsync<string>(pg, "SELECT pg_switch_wal()::text");
            // The slot first, then the repository's end (which only grows): the slot never passes what is durable.
            restart = Lsn.Parse(await Pg.ScalarAsync<string>(pg, $"SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = '{slot}'"));
            durable = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn ?? 0;
            Assert.True(restart.Value <= durable, $"the slot's restart_lsn {restart} passed the WAL durable in S3 ({new Lsn(durable)})");
            if (samples == 0)
                restartAtStart = restart;
            states.Add(await StateAsync(http, clusterId));
            samples++;
        }

        await load;
        var insertDuringOutage = await Pg.InsertLsnAsync(pg);
        // The server still holds the WAL from the slot's position on, several segments of it.
        Assert.True(insertDuringOutage.Value - restart.Value >= 2 * WalSegment.DefaultSizeBytes,
            $"the outage produced too little WAL to matter: slot at {restart}, insert at {insertDuringOutage}");
        Assert.Equal(restartAtStart, restart);
        var retained = await Pg.ScalarAsync<bool>(pg,
            $"SELECT EXISTS (SELECT 1 FROM pg_ls_waldir() WHERE name = pg_walfile_name('{restart}'::pg_lsn))");
        Assert.True(retained, $"the segment of the slot's restart_lsn {restart} is gone from pg_wal");
        Assert.True(proxy.RefusedConnections > 0, "nothing tried S3 during the outage");
        Assert.True(states.Contains("DEGRADED") && states[^1] == "DEGRADED",
            $"the backup was not DEGRADED at the end of the outage; every 2 s it was {string.Join(", ", states)}");

        // S3 is back: the streamer reconnects (its backoff is at most 30 s), stores everything and the backup recovers.
        proxy.Down = false;
        var target = await Pg.InsertLsnAsync(pg);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= target.Value, Bounded,
            $"the WAL in S3 to catch up to {target} after the outage");
        await Wait.UntilAsync(async () => await StateAsync(http, clusterId) == "AVAILABLE", Bounded, "the backup to be AVAILABLE again");
        await Wait.UntilAsync(async () =>
                Lsn.Parse(await Pg.ScalarAsync<string>(pg, $"SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = '{slot}'")) > restart,
            Bounded, "the slot to move on once the WAL is stored");

        // No gap: the chain read back through the location's key verifies, WAL contiguous from the base backup to the end.
        using var raw = new S3ObjectStore(s3.StoreOptions("raw") with { Prefix = settings[$"PgVault:Locations:{Location}:Prefix"] });
        var store = new EncryptingObjectStore(raw, new EncryptionKeyRing(new EncryptionKey("k1", key), []));
        var chain = (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single();
        var report = await ChainVerifier.VerifyAsync(store, chain, null, Ct);
        Assert.True(report.Ok, string.Join("\n", report.Findings.Select(f => f.Message)));
        // Contiguous from the chain's start (whole segments, then pieces of the last one) past the primary's position.
        Assert.True(chain.DurableEnd >= target, $"the chain's contiguous WAL ends at {chain.DurableEnd}, before {target}");
    }

    private static async Task<string> StateAsync(HttpClient http, string clusterId)
    {
        var list = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/{clusterId}/backups", UriKind.Relative), Ct))!;
        return list["items"]![0]!["metadata"]!["state"]!.GetValue<string>();
    }

    /// <summary>The engine's settings for a cluster backed up to an encrypted s3 location at <paramref name="endpoint"/>.</summary>
    private static (Dictionary<string, string?> Settings, byte[] Key) S3Settings(string clusterId, PostgresCluster pg, Uri endpoint)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        var loc = $"PgVault:Locations:{Location}:";
        settings["PgVault:Clusters:0:BackupLocation"] = Location;
        settings[loc + "Type"] = "s3";
        settings[loc + "Endpoint"] = endpoint.ToString();
        settings[loc + "Region"] = "us-east-1";
        settings[loc + "Bucket"] = S3Server.Bucket;
        settings[loc + "Prefix"] = S3Server.NewPrefix("s3fault");
        settings[loc + "ForcePathStyle"] = "true";
        settings[loc + "AccessKeyId"] = S3Server.AccessKeyId;
        settings[loc + "SecretAccessKey"] = S3Server.SecretAccessKey;
        settings[loc + "PartSizeBytes"] = (5 * 1024 * 1024).ToString(CultureInfo.InvariantCulture);
        settings[loc + "Encryption:KeyId"] = "k1";
        settings[loc + "Encryption:Keys:k1"] = "base64:" + Convert.ToBase64String(key);
        return (settings, key);
    }

    /// <summary>
    /// Writes flat configuration keys (<c>PgVault:Locations:s3:Type</c>) as a nested JSON file in <paramref name="dir"/>,
    /// readable by the postgres user. Numeric keys stay object members: configuration binds them to list items the same.
    /// </summary>
    internal static async Task<string> WriteConfigAsync(TempDirectory dir, Dictionary<string, string?> settings)
    {
        var root = new JsonObject();
        foreach (var (k, v) in settings)
        {
            var parts = k.Split(':');
            var node = root;
            foreach (var part in parts[..^1])
                node = (node[part] as JsonObject) ?? (JsonObject)(node[part] = new JsonObject());
            node[parts[^1]] = v;
        }

        var path = Path.Combine(dir.Path, "pgvault.json");
        await File.WriteAllTextAsync(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), Ct);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return path;
    }
}
