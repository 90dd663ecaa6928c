using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage.Encryption;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Storage.S3;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// The continuous backup into an encrypted s3 location on the S3 server the tests start: base backup and WAL streaming
/// under load reach AVAILABLE, every object in the bucket is encrypted, and the chain read back through the location's
/// keys verifies.
/// </summary>
[Trait("Category", "Postgres")]
[Trait("Category", "S3")]
public sealed class S3EngineTests(S3ServerFixture fixture) : IClassFixture<S3ServerFixture>
{
    private const string Token = "pgv_engine-test-0123456789abcdefghijklmnopqrstu";
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public Task An_encrypted_s3_location_gets_base_backup_and_WAL_and_becomes_AVAILABLE() => RunAsync(faults: null);

    /// <summary>The same through <see cref="FaultProxy"/> failing a random fifth of the requests (5xx, 429 with
    /// Retry-After, resets before and during responses, slow answers): the retries absorb all of it.</summary>
    [Fact]
    public Task The_backup_reaches_AVAILABLE_through_a_proxy_failing_a_fifth_of_requests() =>
        RunAsync(faults: FaultProxy.Random(0.2, seed: 5));

    private async Task RunAsync(Func<string, string, int, Fault>? faults)
    {
        var s3 = fixture.Server;
        await using var proxy = new FaultProxy(s3.Endpoint) { SlowDelay = TimeSpan.FromSeconds(1) };
        if (faults is not null)
            proxy.SetPolicy(faults);
        await using var pg = await PostgresCluster.StartAsync("s3engine", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "2", "-q");
        var clusterId = Guid.NewGuid().ToString();
        var prefix = S3Server.NewPrefix("engine");
        var key = RandomNumberGenerator.GetBytes(32);
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:Clusters:0:BackupLocation"] = "s3";
        settings["PgVault:Locations:s3:Type"] = "s3";
        settings["PgVault:Locations:s3:Endpoint"] = (faults is null ? s3.Endpoint : proxy.Endpoint).ToString();
        settings["PgVault:Locations:s3:Region"] = "us-east-1";
        settings["PgVault:Locations:s3:Bucket"] = S3Server.Bucket;
        settings["PgVault:Locations:s3:Prefix"] = prefix;
        settings["PgVault:Locations:s3:ForcePathStyle"] = "true";
        settings["PgVault:Locations:s3:AccessKeyId"] = S3Server.AccessKeyId;
        settings["PgVault:Locations:s3:SecretAccessKey"] = S3Server.SecretAccessKey;
        settings["PgVault:Locations:s3:PartSizeBytes"] = (5 * 1024 * 1024).ToString(CultureInfo.InvariantCulture);
        settings["PgVault:Locations:s3:Encryption:KeyId"] = "k1";
        settings["PgVault:Locations:s3:Encryption:Keys:k1"] = "base64:" + Convert.ToBase64String(key);
        await using var server = await ApiServer.StartAsync("s3engine", settings);
        using var http = server.Client(Token);

        var load = Pg.PgbenchAsync(pg, "-c", "2", "-T", "8", "-n");
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
            Bounded, "the backup in S3 to become AVAILABLE");
        await load;
        var switched = Lsn.Parse(await Pg.ScalarAsync<string>(pg, "SELECT pg_switch_wal()::text"));
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= switched.Value, Bounded,
            $"the WAL in S3 to reach {switched}");

        // The finished segments stored whole (their pieces deleted beside the flushes), so what is listed below stays.
        using var waitStore = new S3ObjectStore(s3.StoreOptions("wait") with { Prefix = prefix });
        var readable = new EncryptingObjectStore(waitStore, new EncryptionKeyRing(new EncryptionKey("k1", key), []));
        await Wait.UntilAsync(async () =>
        {
            var c = (await RepositoryScanner.ScanAsync(readable, clusterId, Ct)).Single();
            var head = WalSegment.Number(c.DurableEnd);
            return c.Wal.Where(w => w.Partial).All(w => w.Segment == head);
        }, Bounded, "the finished WAL segments to be stored whole");

        var one = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/{clusterId}/backups", UriKind.Relative), Ct))!["items"]![0]!;
        Assert.Equal("AVAILABLE", one["metadata"]!["state"]!.GetValue<string>());
        Assert.Equal("s3", one["properties"]!["location"]!.GetValue<string>());

        // In the bucket: the chain, a complete base backup and WAL segments, every one of them encrypted.
        using var raw = new S3ObjectStore(s3.StoreOptions("raw") with { Prefix = prefix });
        var objects = new List<ObjectInfo>();
        await foreach (var o in raw.ListAsync(RepositoryLayout.ClusterPrefix(clusterId), Ct))
            objects.Add(o);
        Assert.Contains(objects, o => o.Key.EndsWith("/chain.json", StringComparison.Ordinal));
        Assert.Contains(objects, o => o.Key.EndsWith("/backup.complete", StringComparison.Ordinal));
        Assert.Contains(objects, o => o.Key.Contains("/wal/00000001/", StringComparison.Ordinal) && !o.Key.Contains(".partial/", StringComparison.Ordinal));
        foreach (var o in objects)
        {
            await using var stream = await raw.OpenReadAsync(o.Key, new ReadRange(0, 4), Ct);
            var magic = new byte[4];
            await stream.ReadExactlyAsync(magic, Ct);
            Assert.True("PGVE"u8.SequenceEqual(magic), $"'{o.Key}' is not encrypted");
        }

        // Read back with the location's key, the chain is whole: every object's checksum, the WAL without gaps.
        var store = new EncryptingObjectStore(raw, new EncryptionKeyRing(new EncryptionKey("k1", key), []));
        var chain = (await RepositoryScanner.ScanAsync(store, clusterId, Ct)).Single();
        var report = await ChainVerifier.VerifyAsync(store, chain, null, Ct);
        Assert.True(report.Ok, string.Join("\n", report.Findings.Select(f => f.Message)));
        Assert.True(report.ObjectsChecked >= 3, $"{report.ObjectsChecked} objects checked");
        if (faults is not null)
            // The share is random (seeded) and the number of requests depends on timing: at least a tenth faulted, and some.
            Assert.True(proxy.FaultCount >= Math.Max(3, proxy.Log.Count / 10), $"only {proxy.FaultCount} of {proxy.Log.Count} requests were faulted");
    }
}
