using System.Formats.Tar;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Postgres;
using PgVault.Security;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;
using ZstdSharp;

namespace PgVault.Engine.Tests;

/// <summary>The continuous backup end to end: a real cluster under pgbench load, PgVault serving, the API's view.</summary>
[Trait("Category", "Postgres")]
public sealed class StreamingAndBaseBackupTests
{
    internal const string Token = "pgv_engine-test-0123456789abcdefghijklmnopqrstu";
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static Dictionary<string, string?> Settings(string clusterId, PostgresCluster pg) => new()
    {
        ["PgVault:Engine:Enabled"] = "true",
        ["PgVault:Clusters:0:Id"] = clusterId,
        ["PgVault:Clusters:0:DisplayName"] = "engine-test",
        ["PgVault:Clusters:0:ConnectionString"] = pg.ConnectionString(),
        ["PgVault:Clusters:0:BaseBackupSchedule"] = "0 0 1 1 *",
        ["PgVault:Tokens:0:Name"] = "test",
        ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(Token),
        ["PgVault:Tokens:0:Clusters:0"] = "*",
        ["PgVault:RateLimit:PermitsPerSecond"] = "0",
    };

    [Fact]
    public async Task Base_backup_and_streaming_under_load_reach_the_primary_and_show_in_the_API()
    {
        await using var pg = await PostgresCluster.StartAsync("stream", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "5", "-q");
        var clusterId = Guid.NewGuid().ToString();
        await using var server = await ApiServer.StartAsync("engine", Settings(clusterId, pg));
        using var http = server.Client(Token);

        // The states the catalog (which the API serves) holds, watched every 10 ms from the start: a first base backup of
        // a small database can finish within one poll of the API below, so the API poll alone may never see BUSY.
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var catalogStates = new List<string>();
        var watcher = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                if (await server.Catalog.GetActiveBackupAsync(clusterId, watching.Token) is { } row
                    && (catalogStates.Count == 0 || catalogStates[^1] != row.State.ToString()))
                    catalogStates.Add(row.State.ToString());
                await Task.Delay(10, watching.Token);
            }
        }, watching.Token);

        // Load while the first base backup runs and WAL streams.
        var load = Pg.PgbenchAsync(pg, "-c", "2", "-T", "12", "-n");
        var states = new List<string>();
        JsonNode? backup = null;
        await Wait.UntilAsync(async () =>
        {
            var list = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/{clusterId}/backups", UriKind.Relative), Ct))!;
            var items = list["items"]!.AsArray();
            if (items.Count == 0)
                return false;
            backup = items[0];
            var state = backup!["metadata"]!["state"]!.GetValue<string>();
            if (states.Count == 0 || states[^1] != state)
                states.Add(state);
            return state == "AVAILABLE";
        }, Bounded, "the backup to become AVAILABLE");
        await load;
        await watching.CancelAsync();
        try
        {
            await watcher;
        }
        catch (OperationCanceledException)
        {
        }

        Assert.Equal("Busy", catalogStates[0]);
        Assert.DoesNotContain("Failed", catalogStates);
        Assert.Equal("AVAILABLE", states[^1]);
        Assert.DoesNotContain("FAILED", states);
        var flush = await Pg.FlushLsnAsync(pg);
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= flush.Value, Bounded,
            $"the repository's WAL to reach the primary's flush LSN {flush}");

        var id = backup!["id"]!.GetValue<string>();
        Assert.Matches($"^{clusterId}-[a-z0-9]{{8}}-15$", id);
        var one = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/backups/{id}", UriKind.Relative), Ct))!;
        var p = one["properties"]!;
        Assert.Equal("15", p["version"]!.GetValue<string>());
        Assert.True(p["isActive"]!.GetValue<bool>());
        Assert.Equal("local", p["location"]!.GetValue<string>());
        Assert.True(p["size"]!.GetValue<long>() >= 1, "size in MB");
        var earliest = DateTimeOffset.Parse(p["earliestRecoveryTargetTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
        var created = DateTimeOffset.Parse(one["metadata"]!["createdDate"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(earliest, created.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));

        // The stored size is what the repository holds.
        var repository = new LocalObjectStore(Path.Combine(server.DataDirectory, "repository"));
        long stored = 0;
        await foreach (var o in repository.ListAsync(RepositoryLayout.ClusterPrefix(clusterId), Ct))
            stored += o.SizeBytes;
        var row = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
        Assert.InRange(row.SizeBytes, stored * 9 / 10, stored);

        // The cluster shows as reachable, with its version.
        var cluster = JsonNode.Parse(await http.GetStringAsync(new Uri($"/clusters/{clusterId}", UriKind.Relative), Ct))!;
        Assert.Equal("AVAILABLE", cluster["metadata"]!["state"]!.GetValue<string>());
        Assert.Equal("15", cluster["properties"]!["postgresVersion"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_base_backup_from_the_repository_passes_pg_verifybackup()
    {
        await using var pg = await PostgresCluster.StartAsync("verify", ct: Ct);
        await Pg.PgbenchAsync(pg, "-i", "-s", "2", "-q");
        var clusterId = Guid.NewGuid().ToString();
        await using var server = await ApiServer.StartAsync("verify", Settings(clusterId, pg));
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
            Bounded, "the first base backup");
        // Finish the segment holding the backup's end, so every segment it needs is stored whole.
        var switched = Lsn.Parse(await Pg.ScalarAsync<string>(pg, "SELECT pg_switch_wal()::text"));
        await Wait.UntilAsync(async () => (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!.EndLsn >= switched.Value, Bounded,
            "the switched segment in the repository");
        await Wait.FinishedSegmentsWholeAsync(new LocalObjectStore(Path.Combine(server.DataDirectory, "repository")), clusterId, Bounded);

        var row = (await server.Catalog.GetActiveBackupAsync(clusterId, Ct))!;
        var chainId = ClusterChain.ChainIdOf(row);
        var baseBackup = (await server.Catalog.ListBaseBackupsAsync(row.Id, Ct)).Single(b => b.State == BaseBackupState.Complete);
        var repository = new LocalObjectStore(Path.Combine(server.DataDirectory, "repository"));
        Assert.NotNull(await repository.StatAsync(RepositoryLayout.BaseBackupComplete(clusterId, chainId, baseBackup.Label), Ct));
        var metadataBytes = await ReadAllAsync(repository, RepositoryLayout.BaseBackupMetadata(clusterId, chainId, baseBackup.Label));
        var metadata = JsonNode.Parse(metadataBytes)!;

        using var restoreRoot = new TempDirectory("verifybackup");
        var dataDir = Path.Combine(restoreRoot.Path, "data");
        var walDir = Path.Combine(restoreRoot.Path, "wal");
        Directory.CreateDirectory(dataDir);
        Directory.CreateDirectory(walDir);

        // Parts in order → one tar stream → extracted; each part's SHA-256 checked against backup.json: of its content,
        // or of its stored bytes for a part the server compressed (the default where the server can).
        using (var tar = new MemoryStream())
        {
            foreach (var part in metadata["parts"]!.AsArray())
            {
                var stored = await ReadAllAsync(repository, part!["key"]!.GetValue<string>());
                var bytes = Decompress(stored);
                var storedChecksum = part["storedChecksum"]?.GetValue<bool>() == true;
                Assert.Equal(part["sha256"]!.GetValue<string>(), Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(storedChecksum ? stored : bytes)));
                await tar.WriteAsync(bytes, Ct);
            }

            tar.Position = 0;
            await TarFile.ExtractToDirectoryAsync(tar, dataDir, overwriteFiles: false, Ct);
        }

        // The server's compressed tar has no backup_manifest member: it is stored beside the tar.
        if (!File.Exists(Path.Combine(dataDir, "backup_manifest")))
        {
            var manifest = metadata["manifest"]!;
            var bytes = Decompress(await ReadAllAsync(repository, manifest["key"]!.GetValue<string>()));
            Assert.Equal(manifest["sha256"]!.GetValue<string>(), Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
            await File.WriteAllBytesAsync(Path.Combine(dataDir, "backup_manifest"), bytes, Ct);
        }

        // The WAL segments from the backup's start to its end, from the repository.
        var start = WalSegment.Number(new Lsn(baseBackup.StartLsn!.Value));
        var end = WalSegment.Number(new Lsn(baseBackup.EndLsn!.Value - 1));
        for (var n = start; n <= end; n++)
        {
            var name = WalSegment.Name(1, n);
            var key = await repository.ListAsync(RepositoryLayout.WalTimelinePrefix(clusterId, chainId, 1) + name + "-", Ct).Select(o => o.Key).SingleAsync(Ct);
            Assert.True(RepositoryLayout.TryParseWalSegmentFile(key[(key.LastIndexOf('/') + 1)..], out _, out var sha));
            var bytes = Decompress(await ReadAllAsync(repository, key));
            Assert.Equal(sha, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
            await File.WriteAllBytesAsync(Path.Combine(walDir, name), bytes, Ct);
        }

        await RunAsync("chmod", "-R", "a+rX", restoreRoot.Path);
        var (code, output) = await pg.RunPgRawAsync("pg_verifybackup", ["-w", walDir, dataDir], Ct);
        Assert.True(code == 0, "pg_verifybackup failed: " + output);
        Assert.Contains("successfully verified", output, StringComparison.Ordinal);
    }

    internal static async Task<byte[]> ReadAllAsync(IObjectStore store, string key)
    {
        await using var stream = await store.OpenReadAsync(key, ReadRange.All, Ct);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        return copy.ToArray();
    }

    internal static byte[] Decompress(byte[] compressed)
    {
        // Streaming: the server's frames do not record their content size.
        using var d = new DecompressionStream(new MemoryStream(compressed));
        using var copy = new MemoryStream();
        d.CopyTo(copy);
        return copy.ToArray();
    }

    private static async Task RunAsync(string program, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(program) { UseShellExecute = false };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        await p.WaitForExitAsync(Ct);
        Assert.Equal(0, p.ExitCode);
    }
}

/// <summary>DEGRADED while WAL streaming is interrupted longer than the threshold, AVAILABLE again after.</summary>
[Trait("Category", "Postgres")]
public sealed class DegradedStateTests
{
    [Fact]
    public async Task An_interruption_longer_than_the_threshold_degrades_the_backup_until_streaming_resumes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pg = await PostgresCluster.StartAsync("degraded", ct: ct);
        var clusterId = Guid.NewGuid().ToString();
        var settings = StreamingAndBaseBackupTests.Settings(clusterId, pg);
        settings["PgVault:Engine:WalLagThreshold"] = "00:00:02";
        await using var server = await ApiServer.StartAsync("degraded", settings);
        async Task<BackupState?> StateAsync() => (await server.Catalog.GetActiveBackupAsync(clusterId, ct))?.State;
        await Wait.UntilAsync(async () => await StateAsync() == BackupState.Available, TimeSpan.FromSeconds(180), "AVAILABLE");

        var (code, output) = await pg.RunPgRawAsync("pg_ctl", ["stop", "-m", "fast", "-w", "-D", pg.DataDirectory], ct);
        Assert.True(code == 0, output);
        await Wait.UntilAsync(async () => await StateAsync() == BackupState.Degraded, TimeSpan.FromSeconds(60), "DEGRADED while the server is down");

        (code, output) = await pg.RunPgRawAsync("pg_ctl", ["start", "-w", "-D", pg.DataDirectory, "-o", $"-p {pg.Port}", "-l", pg.LogFile], ct);
        Assert.True(code == 0, output);
        await Wait.UntilAsync(async () => await StateAsync() == BackupState.Available, TimeSpan.FromSeconds(90), "AVAILABLE after streaming resumes");
    }
}
