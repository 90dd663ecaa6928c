using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PgVault.Catalog;
using PgVault.Catalog.Postgres;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Engine.Storage;
using PgVault.Fleet;
using PgVault.Postgres;
using PgVault.Security;
using PgVault.Storage;
using PgVault.Testing;
using Xunit;

namespace PgVault.Engine.Tests;

/// <summary>
/// A fleet of real <c>pgvault serve</c> processes sharing real clusters through one PostgreSQL catalog and one
/// filesystem repository: balanced ownership, takeover after kill -9, a clean stop that hands its clusters over at once,
/// actions sent to any instance carried out once by the lease holder.
/// </summary>
[Trait("Category", "Postgres")]
public sealed partial class FleetTests : IAsyncDisposable
{
    private const string Token = "fleet-test-token";
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(180);
    private readonly List<IAsyncDisposable> _cleanup = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>One <c>pgvault serve</c> process; its API address is read from what it prints.</summary>
    private sealed partial class Instance : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _output = new();
        private readonly TaskCompletionSource<Uri> _url = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Instance(string name, Dictionary<string, string?> settings)
        {
            Name = name;
            _process = new Process { StartInfo = PgVaultProcess.StartInfo(["serve", "--urls", "http://127.0.0.1:0"], settings) };
            _process.OutputDataReceived += (_, e) => Keep(e.Data);
            _process.ErrorDataReceived += (_, e) => Keep(e.Data);
            _process.Start();
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Name { get; }

        public int Pid => _process.Id;

        public bool HasExited => _process.HasExited;

        public string Output => string.Join("\n", _output);

        private void Keep(string? line)
        {
            if (line is null)
                return;
            if (Serving().Match(line) is { Success: true } m)
                _url.TrySetResult(new Uri(m.Groups[1].Value));
            _output.Enqueue(line);
            while (_output.Count > 400)
                _output.TryDequeue(out _);
        }

        [GeneratedRegex(@"serving the API at (http://[0-9.:]+)")]
        private static partial Regex Serving();

        public async Task<HttpClient> ClientAsync()
        {
            var url = await _url.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
            var client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            return client;
        }

        public void Signal(string signal)
        {
            using var kill = Process.Start("kill", [$"-{signal}", Pid.ToString(CultureInfo.InvariantCulture)])!;
            kill.WaitForExit();
        }

        public void KillHard() => _process.Kill(entireProcessTree: true);

        public async Task<int> StopAsync(TimeSpan timeout)
        {
            Signal("TERM");
            await _process.WaitForExitAsync(Ct).WaitAsync(timeout, Ct);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                Signal("CONT"); // a stopped process cannot die of SIGKILL until the kernel resumes it; harmless otherwise
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync(CancellationToken.None);
            _process.Dispose();
        }
    }

    private sealed record Rig(PostgresCluster Catalog, string CatalogConnection, List<(string Id, PostgresCluster Pg)> Clusters, string Repository,
        PostgresLeaseStore Leases, PostgresCatalog Index);

    private async Task<Rig> StartClustersAsync(string name, int count)
    {
        var catalogPg = await PostgresCluster.StartAsync(name + "-catalog", ct: Ct);
        _cleanup.Add(catalogPg);
        var catalogCs = catalogPg.ConnectionString(await catalogPg.CreateDatabaseAsync(name, Ct));
        var clusters = new List<(string, PostgresCluster)>();
        for (var i = 0; i < count; i++)
        {
            var pg = await PostgresCluster.StartAsync($"{name}{i}", ct: Ct);
            _cleanup.Add(pg);
            await pg.ExecuteAsync("CREATE TABLE marks (id serial PRIMARY KEY, at timestamptz DEFAULT now(), note text)", ct: Ct);
            clusters.Add((Guid.NewGuid().ToString(), pg));
        }

        var repository = new TempDirectory(name + "-repository");
        _cleanup.Add(new AsyncDisposer(repository.Dispose));
        var leases = new PostgresLeaseStore(catalogCs);
        _cleanup.Add(leases);
        var index = new PostgresCatalog(catalogCs);
        _cleanup.Add(index);
        await index.MigrateAsync(Ct); // the schema before the test reads the leases (the instances migrate too, once)
        return new Rig(catalogPg, catalogCs, clusters, repository.Path, leases, index);
    }

    private Instance StartInstance(Rig fleet, string name, Dictionary<string, string?>? extra = null)
    {
        var data = new TempDirectory("fleet-" + name);
        _cleanup.Add(new AsyncDisposer(data.Dispose));
        var s = new Dictionary<string, string?>
        {
            ["PgVault:DataDirectory"] = data.Path,
            ["PgVault:Catalog:Provider"] = "postgres",
            ["PgVault:Catalog:ConnectionString"] = fleet.CatalogConnection,
            ["PgVault:Locations:local:Type"] = "filesystem",
            ["PgVault:Locations:local:Path"] = fleet.Repository,
            ["PgVault:Fleet:InstanceName"] = name,
            ["PgVault:Fleet:LeaseTtl"] = Ttl.ToString(),
            ["PgVault:Engine:Enabled"] = "true",
            ["PgVault:Engine:ExpirySchedule"] = "",
            ["PgVault:Tokens:0:Name"] = "admin",
            ["PgVault:Tokens:0:TokenHash"] = TokenHasher.Hash(Token),
            ["PgVault:Tokens:0:Clusters:0"] = "*",
            ["PgVault:RateLimit:PermitsPerSecond"] = "0",
        };
        for (var i = 0; i < fleet.Clusters.Count; i++)
        {
            s[$"PgVault:Clusters:{i}:Id"] = fleet.Clusters[i].Id;
            s[$"PgVault:Clusters:{i}:ConnectionString"] = fleet.Clusters[i].Pg.ConnectionString();
            s[$"PgVault:Clusters:{i}:BaseBackupSchedule"] = "0 0 1 1 *";
        }

        foreach (var (k, v) in extra ?? [])
            s[k] = v;
        var instance = new Instance(name, s);
        _cleanup.Add(instance);
        return instance;
    }

    /// <summary>The held leases, cluster → owner (clusters without a held lease left out).</summary>
    private static async Task<Dictionary<string, ClusterLease>> HeldAsync(Rig fleet) =>
        (await fleet.Leases.ListLeasesAsync(Ct)).Where(l => l.Held).ToDictionary(l => l.ClusterId, StringComparer.Ordinal);

    private static async Task BalancedAsync(Rig fleet, IReadOnlyCollection<string> instances, string what)
    {
        var ids = fleet.Clusters.Select(c => c.Id).ToList();
        var share = (double)ids.Count / instances.Count;
        await Wait.UntilAsync(async () =>
        {
            var held = await HeldAsync(fleet);
            if (!ids.All(held.ContainsKey) || held.Values.Any(l => !instances.Contains(l.Owner!)))
                return false;
            return instances.All(n => held.Values.Count(l => l.Owner == n) is var k && k >= Math.Floor(share) && k <= Math.Ceiling(share));
        }, Bounded, what);
    }

    private static async Task<ScannedChain> ChainAsync(Rig fleet, string clusterId) =>
        (await RepositoryScanner.ScanAsync(new LocalObjectStore(fleet.Repository), clusterId, Ct)).OrderBy(c => c.Metadata!.CreatedAt).Last();

    private static async Task<Lsn> WriteMarkAsync(PostgresCluster pg, string note)
    {
        await pg.ExecuteAsync($"INSERT INTO marks (note) SELECT '{note}' FROM generate_series(1, 100)", ct: Ct);
        return await Pg.InsertLsnAsync(pg);
    }

    [Fact]
    public async Task Three_instances_share_the_clusters_evenly_and_a_killed_ones_clusters_stream_again_elsewhere_within_the_TTL_plus_10_s()
    {
        var fleet = await StartClustersAsync("fleet", 6);
        var names = new[] { "fleet-a", "fleet-b", "fleet-c" };
        var instances = names.Select(n => StartInstance(fleet, n)).ToList();

        await BalancedAsync(fleet, names, "every cluster leased, each instance within one of its share");
        await Wait.UntilAsync(async () =>
        {
            foreach (var (id, _) in fleet.Clusters)
            {
                if ((await fleet.Index.GetActiveBackupAsync(id, Ct))?.State != BackupState.Available)
                    return false;
            }

            return true;
        }, Bounded, "every cluster's first base backup");

        // Any instance answers GET /fleet from the catalog: three live instances, each with the clusters it holds.
        using (var http = await instances[1].ClientAsync())
        {
            var body = JsonNode.Parse(await http.GetStringAsync("/fleet", Ct))!;
            Assert.Equal("fleet", body["mode"]!.GetValue<string>());
            Assert.Equal("fleet-b", body["instance"]!.GetValue<string>());
            var listed = body["instances"]!.AsArray();
            Assert.Equal(names, listed.Select(i => i!["name"]!.GetValue<string>()));
            Assert.All(listed, i => Assert.True(i!["live"]!.GetValue<bool>()));
            Assert.Equal(fleet.Clusters.Select(c => c.Id).Order(StringComparer.Ordinal),
                listed.SelectMany(i => i!["clusters"]!.AsArray().Select(c => c!["clusterId"]!.GetValue<string>())).Order(StringComparer.Ordinal));
        }

        // Every instance is ready (its heartbeat reaches the catalog) and reports what it holds; together, every cluster.
        var held = await HeldAsync(fleet);
        var ownedSum = 0;
        foreach (var instance in instances)
        {
            using var http = await instance.ClientAsync();
            var ready = JsonNode.Parse(await http.GetStringAsync("/readyz", Ct))!;
            Assert.Equal("ok", ready["checks"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "fleet")!["status"]!.GetValue<string>());
            var metrics = await http.GetStringAsync("/metrics", Ct);
            var owned = int.Parse(OwnedSeries().Match(metrics).Groups["n"].Value, CultureInfo.InvariantCulture);
            Assert.Equal(held.Values.Count(l => l.Owner == instance.Name), owned);
            ownedSum += owned;

            // An action on a cluster another instance backs up goes to that instance, which answers (here: it has no
            // data directory to restore in place).
            var (otherId, lease) = held.First(kv => kv.Value.Owner != instance.Name);
            var otherBackup = (await fleet.Index.GetActiveBackupAsync(otherId, Ct))!.Id;
            var refused = await PostAsync(http, $"/clusters/{otherId}/restore", $$"""{"backupId":"{{otherBackup}}"}""");
            Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, refused.Status);
            Assert.Contains("has no local data directory", refused.Body, StringComparison.Ordinal);
            Assert.Contains((await ActionsAsync(fleet)), a => a == ("restore", "done", lease.Owner));
        }

        Assert.Equal(fleet.Clusters.Count, ownedSum);

        // kill -9 the instance holding the most clusters, while the clusters keep writing.
        var before = await HeldAsync(fleet);
        var victim = instances.OrderByDescending(i => before.Values.Count(l => l.Owner == i.Name)).First();
        var orphaned = before.Where(kv => kv.Value.Owner == victim.Name).Select(kv => kv.Key).ToList();
        var chainsBefore = new Dictionary<string, string>();
        foreach (var (id, pg) in fleet.Clusters)
        {
            var target = await WriteMarkAsync(pg, "before");
            await Wait.UntilAsync(async () => (await ChainAsync(fleet, id)).DurableEnd >= target, Bounded, $"cluster {id}'s WAL before the kill");
            chainsBefore[id] = (await ChainAsync(fleet, id)).ChainId;
        }

        var clock = Stopwatch.StartNew();
        victim.KillHard();
        var targets = new Dictionary<string, Lsn>();
        foreach (var id in orphaned)
            targets[id] = await WriteMarkAsync(fleet.Clusters.Single(c => c.Id == id).Pg, "after");
        var takeover = new Dictionary<string, TimeSpan>();
        await Wait.UntilAsync(async () =>
        {
            foreach (var id in orphaned.Where(id => !takeover.ContainsKey(id)))
            {
                if ((await ChainAsync(fleet, id)).DurableEnd >= targets[id])
                    takeover[id] = clock.Elapsed;
            }

            return takeover.Count == orphaned.Count;
        }, Ttl + TimeSpan.FromSeconds(10), $"the WAL of {string.Join(", ", orphaned)} (orphaned by {victim.Name}) to reach the repository again");
        TestContext.Current.TestOutputHelper?.WriteLine($"takeover after kill -9 (TTL {Ttl.TotalSeconds} s): " +
            string.Join(", ", takeover.Select(kv => $"{kv.Key[..8]} {kv.Value.TotalSeconds:0.0} s")));

        var survivors = names.Where(n => n != victim.Name).ToList();
        var after = await HeldAsync(fleet);
        foreach (var id in orphaned)
        {
            Assert.Contains(after[id].Owner, survivors);
            Assert.True(after[id].Epoch > before[id].Epoch, "a lease taken over must have a higher epoch");
        }

        await BalancedAsync(fleet, survivors, "the clusters shared evenly by the two survivors");

        // No WAL gap: every chain goes on (the same chain, no new one), and verify finds it whole.
        foreach (var (id, pg) in fleet.Clusters)
        {
            var target = await WriteMarkAsync(pg, "end");
            await Wait.UntilAsync(async () => (await ChainAsync(fleet, id)).DurableEnd >= target, Bounded, $"cluster {id}'s last WAL");
            var chain = await ChainAsync(fleet, id);
            Assert.Equal(chainsBefore[id], chain.ChainId);
            var report = await ChainVerifier.VerifyAsync(new LocalObjectStore(fleet.Repository), chain, null, Ct);
            Assert.True(report.Ok, $"cluster {id}: " + string.Join("\n", report.Findings.Select(f => f.Message)));
        }

        // A clean stop (SIGTERM) releases the leases at once: no waiting for them to expire.
        var leaving = instances.Single(i => i.Name == survivors[0]);
        var staying = survivors[1];
        var itsClusters = (await HeldAsync(fleet)).Where(kv => kv.Value.Owner == leaving.Name).Select(kv => kv.Key).ToList();
        Assert.Equal(0, await leaving.StopAsync(TimeSpan.FromSeconds(60)));
        var leases = (await fleet.Leases.ListLeasesAsync(Ct)).Where(l => itsClusters.Contains(l.ClusterId)).ToList();
        Assert.All(leases, l => Assert.True(l.Owner is null || l.Owner == staying, $"cluster {l.ClusterId} is still leased to {l.Owner}"));
        Assert.DoesNotContain(leaving.Name, (await fleet.Leases.ListInstancesAsync(Ct)).Select(i => i.Name));
        await BalancedAsync(fleet, [staying], "every cluster on the last instance");
    }

    [Fact]
    public async Task A_rolling_restart_of_every_instance_leaves_no_WAL_gap()
    {
        var fleet = await StartClustersAsync("rolling", 3);
        var names = new[] { "roll-a", "roll-b", "roll-c" };
        var instances = names.Select(n => StartInstance(fleet, n)).ToList();
        await BalancedAsync(fleet, names, "every cluster leased, each instance within one of its share");
        var chains = new Dictionary<string, string>();
        foreach (var (id, pg) in fleet.Clusters)
        {
            var target = await WriteMarkAsync(pg, "start");
            await Wait.UntilAsync(async () => (await ChainAsync(fleet, id)).DurableEnd >= target, Bounded, $"cluster {id}'s first WAL");
            chains[id] = (await ChainAsync(fleet, id)).ChainId;
        }

        // One after the other: SIGTERM (its clusters go to the others at once), start it again, wait for the balance.
        for (var i = 0; i < instances.Count; i++)
        {
            Assert.Equal(0, await instances[i].StopAsync(TimeSpan.FromSeconds(60)));
            foreach (var (_, pg) in fleet.Clusters)
                await WriteMarkAsync(pg, $"while {names[i]} restarts");
            instances[i] = StartInstance(fleet, names[i]);
            await BalancedAsync(fleet, names, $"the balance back after restarting {names[i]}");
        }

        foreach (var (id, pg) in fleet.Clusters)
        {
            var target = await WriteMarkAsync(pg, "end");
            await Wait.UntilAsync(async () => (await ChainAsync(fleet, id)).DurableEnd >= target, Bounded, $"cluster {id}'s last WAL");
            var chain = await ChainAsync(fleet, id);
            Assert.Equal(chains[id], chain.ChainId);
            var report = await ChainVerifier.VerifyAsync(new LocalObjectStore(fleet.Repository), chain, null, Ct);
            Assert.True(report.Ok, $"cluster {id}: " + string.Join("\n", report.Findings.Select(f => f.Message)));
        }
    }

    [Fact]
    public async Task An_owner_paused_past_its_TTL_commits_nothing_when_it_wakes_and_steps_back()
    {
        var fleet = await StartClustersAsync("paused", 1);
        var (clusterId, pg) = fleet.Clusters[0];
        await Pg.PgbenchAsync(pg, "-i", "-s", "20", "-q"); // a base backup that takes a while
        // The instance the assignment prefers for the cluster is the one paused: it owns the cluster with both live.
        var names = new[] { "pause-1", "pause-2" }.OrderByDescending(n => FleetAssignment.Weight(clusterId, n)).ToArray();
        var slow = new Dictionary<string, string?>
        {
            // Parts cut by PgVault, small: a running base backup shows in the repository part by part.
            ["PgVault:Engine:BaseBackupCompression"] = "Client",
            ["PgVault:Engine:BaseBackupPartSizeBytes"] = (8 << 20).ToString(CultureInfo.InvariantCulture),
        };
        var paused = StartInstance(fleet, names[0], slow);
        var other = StartInstance(fleet, names[1], slow);

        // Pause the owner in the middle of a base backup (its data parts are being written).
        BaseBackupRecord? running = null;
        long epoch = 0;
        await Wait.UntilAsync(async () =>
        {
            if ((await HeldAsync(fleet)).GetValueOrDefault(clusterId) is not { Owner: var owner } lease || owner != paused.Name)
                return false;
            epoch = lease.Epoch;
            var active = await fleet.Index.GetActiveBackupAsync(clusterId, Ct);
            running = active is null ? null : (await fleet.Index.ListBaseBackupsAsync(active.Id, Ct)).FirstOrDefault(b => b.State == BaseBackupState.Running);
            return running is not null && Directory.Exists(fleet.Repository)
                   && Directory.EnumerateFiles(fleet.Repository, "data.*", SearchOption.AllDirectories).Any();
        }, Bounded, $"a base backup running on {paused.Name}");
        var chainId = (await ChainAsync(fleet, clusterId)).ChainId;
        paused.Signal("STOP");

        // The other instance takes the cluster over and streams, ending the paused one's replication connection.
        var target = await WriteMarkAsync(pg, "while paused");
        try
        {
            await Wait.UntilAsync(async () => (await ChainAsync(fleet, clusterId)).DurableEnd >= target, Ttl + TimeSpan.FromSeconds(20),
                $"{other.Name} to stream the cluster while {paused.Name} is paused");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"{ex.Message}\n{other.Name}'s output:\n{other.Output}", ex);
        }

        var taken = (await HeldAsync(fleet))[clusterId];
        Assert.Equal(other.Name, taken.Owner);
        Assert.True(taken.Epoch > epoch);

        // Woken up, the stale owner sees its lease gone, stops its worker and commits nothing.
        paused.Signal("CONT");
        await Wait.UntilAsync(() => Task.FromResult(paused.Output.Contains($"lease of cluster {clusterId} (epoch {epoch})", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), $"{paused.Name} to notice it lost the lease (output:\n{paused.Output})");
        Assert.False(paused.HasExited, "the stale owner steps back; it does not die");

        // Later base backups complete (whoever backs the cluster up by then); the interrupted one never does.
        await Wait.UntilAsync(async () => (await fleet.Index.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available, Bounded,
            "a complete base backup after the takeover");
        await Task.Delay(Ttl, Ct); // time for a stale commit to show, if it were going to
        Assert.False(File.Exists(Path.Combine(fleet.Repository, RepositoryLayout.BaseBackupComplete(clusterId, chainId, running!.Label))),
            $"base backup {running.Label}, interrupted by the pause, was committed by the stale owner");
        var row = (await fleet.Index.ListBaseBackupsAsync((await fleet.Index.GetActiveBackupAsync(clusterId, Ct))!.Id, Ct)).Single(b => b.Label == running.Label);
        Assert.NotEqual(BaseBackupState.Complete, row.State);

        var end = await WriteMarkAsync(pg, "end");
        await Wait.UntilAsync(async () => (await ChainAsync(fleet, clusterId)).DurableEnd >= end, Bounded, "the last WAL");
        var chain = await ChainAsync(fleet, clusterId);
        Assert.Equal(chainId, chain.ChainId);
        var report = await ChainVerifier.VerifyAsync(new LocalObjectStore(fleet.Repository), chain, null, Ct);
        Assert.True(report.Ok, string.Join("\n", report.Findings.Select(f => f.Message)));
    }

    private static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    /// <summary>The status, Location and body bytes of a response: what must be the same whichever instance answered.</summary>
    private static async Task<(System.Net.HttpStatusCode Status, string? Location, string Body)> PostAsync(HttpClient http, string path, string? json)
    {
        using var response = await http.PostAsync(new Uri(path, UriKind.Relative), json is null ? null : Json(json), Ct);
        return (response.StatusCode, response.Headers.Location?.OriginalString, await response.Content.ReadAsStringAsync(Ct));
    }

    private static async Task<List<(string Kind, string State, string? ClaimedBy)>> ActionsAsync(Rig fleet)
    {
        await using var conn = new Npgsql.NpgsqlConnection(fleet.CatalogConnection);
        await conn.OpenAsync(Ct);
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT kind, state, claimed_by FROM fleet_actions ORDER BY created_at", conn);
        await using var reader = await cmd.ExecuteReaderAsync(Ct);
        var list = new List<(string, string, string?)>();
        while (await reader.ReadAsync(Ct))
            list.Add((reader.GetString(0), reader.GetString(1), await reader.IsDBNullAsync(2, Ct) ? null : reader.GetString(2)));
        return list;
    }

    private static async Task<List<BaseBackupRecord>> BaseBackupsAsync(Rig fleet, string clusterId) =>
        (await fleet.Index.ListBaseBackupsAsync((await fleet.Index.GetActiveBackupAsync(clusterId, Ct))!.Id, Ct)).ToList();

    [Fact]
    public async Task Actions_sent_to_an_instance_that_does_not_back_the_cluster_up_are_carried_out_once_by_the_one_that_does()
    {
        var fleet = await StartClustersAsync("forward", 1);
        var (clusterId, pg) = fleet.Clusters[0];
        // A second cluster PgVault knows but whose server is not reachable and whose data directory is not on this machine.
        var elsewhere = Guid.NewGuid().ToString();
        // A long lease: the owner paused below stays the owner (it is not the takeover that is tested here).
        var ttl = TimeSpan.FromSeconds(20);
        var timeout = TimeSpan.FromSeconds(4);
        var config = new Dictionary<string, string?>
        {
            ["PgVault:Clusters:0:DataDirectory"] = pg.DataDirectory,
            ["PgVault:Clusters:1:Id"] = elsewhere,
            ["PgVault:Clusters:1:ConnectionString"] = "Host=127.0.0.1;Port=1;Username=postgres;Timeout=1",
            ["PgVault:Clusters:1:BaseBackupSchedule"] = "0 0 1 1 *",
            ["PgVault:Fleet:LeaseTtl"] = ttl.ToString(),
            ["PgVault:Fleet:ActionTimeout"] = timeout.ToString(),
            // The restored server's restore_command (pgvault wal-fetch) runs as the postgres OS user: the repository is
            // shared with its group, as an operator would.
            ["PgVault:GroupAccess"] = "true",
        };
        if (TestEnvironment.IsRoot)
            await PgVault.Hosting.StateDirectory.ShareWithGroupAsync(fleet.Repository, "postgres", Ct);
        var instances = new[] { StartInstance(fleet, "fwd-1", config), StartInstance(fleet, "fwd-2", config) };
        // Two clusters, two instances: one each.
        await Wait.UntilAsync(async () => (await HeldAsync(fleet)) is var held && held.ContainsKey(clusterId) && held.ContainsKey(elsewhere)
                                          && held[clusterId].Owner != held[elsewhere].Owner
                                          && (await fleet.Index.GetActiveBackupAsync(clusterId, Ct))?.State == BackupState.Available,
            Bounded, "each instance to hold one cluster, and the first base backup");
        var ownerName = (await HeldAsync(fleet))[clusterId].Owner;
        var owner = instances.Single(i => i.Name == ownerName);
        var other = instances.Single(i => i != owner);
        using var toOwner = await owner.ClientAsync();
        using var toOther = await other.ClientAsync();
        var backupId = (await fleet.Index.GetActiveBackupAsync(clusterId, Ct))!.Id;

        // Marks before and after a target time, all in the repository.
        await pg.ExecuteAsync("INSERT INTO marks (note) SELECT 'before' FROM generate_series(1, 5)", ct: Ct);
        var target = await Pg.ScalarAsync<DateTime>(pg, "SELECT clock_timestamp() FROM pg_sleep(0.3)");
        await pg.ExecuteAsync("SELECT pg_sleep(0.3); INSERT INTO marks (note) SELECT 'after' FROM generate_series(1, 5)", ct: Ct);
        var durable = await Pg.InsertLsnAsync(pg);
        await Wait.UntilAsync(async () => (await ChainAsync(fleet, clusterId)).DurableEnd >= durable, Bounded, "the marks in the repository");

        // Refusals: the same status and bytes from the owner and, forwarded, from the other instance.
        var outside = $$"""{"backupId":"{{backupId}}","recoveryTargetTime":"2020-01-01T00:00:00Z"}""";
        var refusedByOwner = await PostAsync(toOwner, $"/clusters/{clusterId}/restore", outside);
        var refusedForwarded = await PostAsync(toOther, $"/clusters/{clusterId}/restore", outside);
        Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, refusedByOwner.Status);
        Assert.Contains("recovery window", refusedByOwner.Body, StringComparison.Ordinal);
        // (The window named ends where the repository's WAL ends, which moves between the two: the start is compared.)
        Assert.Equal((refusedByOwner.Status, refusedByOwner.Location), (refusedForwarded.Status, refusedForwarded.Location));
        Assert.Equal(refusedByOwner.Body[..refusedByOwner.Body.IndexOf(" to ", StringComparison.Ordinal)],
            refusedForwarded.Body[..refusedForwarded.Body.IndexOf(" to ", StringComparison.Ordinal)]);
        // Here nothing moves: the cluster the other instance backs up has no data directory; asked of each instance.
        var noData = $$"""{"backupId":"{{backupId}}"}""";
        var refusedByItsOwner = await PostAsync(toOther, $"/clusters/{elsewhere}/restore", noData);
        Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, refusedByItsOwner.Status);
        Assert.Contains("has no local data directory", refusedByItsOwner.Body, StringComparison.Ordinal);
        Assert.Equal(refusedByItsOwner, await PostAsync(toOwner, $"/clusters/{elsewhere}/restore", noData));
        var unknown = Guid.NewGuid();
        Assert.Equal(await PostAsync(toOwner, $"/clusters/{unknown}/backups", null), await PostAsync(toOther, $"/clusters/{unknown}/backups", null));

        // A base backup asked of the other instance: 202 with the new base backup, taken once, by the owner.
        var before = await BaseBackupsAsync(fleet, clusterId);
        var started = await PostAsync(toOther, $"/clusters/{clusterId}/backups", """{"type":"full"}""");
        Assert.True(started.Status == System.Net.HttpStatusCode.Accepted, $"{started.Status}: {started.Body}");
        var label = JsonNode.Parse(started.Body)!["properties"]!["label"]!.GetValue<string>();
        Assert.Equal($"/clusters/backups/{backupId}/basebackups/{label}", started.Location);
        Assert.Equal("BUSY", JsonNode.Parse(started.Body)!["metadata"]!["state"]!.GetValue<string>());
        await Wait.UntilAsync(async () => (await BaseBackupsAsync(fleet, clusterId)).Any(b => b.Label == label && b.State == BaseBackupState.Complete), Bounded,
            $"base backup {label} to complete");
        Assert.Equal(before.Count + 1, (await BaseBackupsAsync(fleet, clusterId)).Count);

        // The owner paused: nobody takes the request within the other instance's timeout: 503, abandoned.
        owner.Signal("STOP");
        var clock = Stopwatch.StartNew();
        var unanswered = await PostAsync(toOther, $"/clusters/{clusterId}/backups", null);
        var waited = clock.Elapsed;
        owner.Signal("CONT");
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, unanswered.Status);
        Assert.Contains("it was not carried out", unanswered.Body, StringComparison.Ordinal);
        Assert.InRange(waited, timeout, 2 * timeout);
        Assert.True(waited < ttl / 2, $"the owner was paused {waited.TotalSeconds:0.0} s, longer than its lease: the test no longer shows what it means to");

        // Awake (its lease still held), the owner takes the next request, never the abandoned one before it.
        var again = await PostAsync(toOther, $"/clusters/{clusterId}/backups", null);
        Assert.True(again.Status == System.Net.HttpStatusCode.Accepted, $"{again.Status}: {again.Body}");
        var label2 = JsonNode.Parse(again.Body)!["properties"]!["label"]!.GetValue<string>();
        await Wait.UntilAsync(async () => (await BaseBackupsAsync(fleet, clusterId)).Any(b => b.Label == label2 && b.State == BaseBackupState.Complete), Bounded,
            $"base backup {label2} to complete");
        Assert.Equal(before.Count + 2, (await BaseBackupsAsync(fleet, clusterId)).Count);

        // An in-place restore asked of the other instance runs once, on the owner, to the target.
        var restored = await PostAsync(toOther, $"/clusters/{clusterId}/restore",
            $$"""{"backupId":"{{backupId}}","recoveryTargetTime":"{{target.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)}}"}""");
        Assert.Equal((System.Net.HttpStatusCode.Accepted, $"/clusters/{clusterId}"), (restored.Status, restored.Location));
        var done = $"cluster {clusterId}: restored in place";
        await Wait.UntilAsync(() => Task.FromResult(owner.Output.Contains(done, StringComparison.Ordinal)
                                                    || owner.Output.Contains($"cluster {clusterId}: in-place restore of backup {backupId} failed", StringComparison.Ordinal)),
            TimeSpan.FromMinutes(4), $"the restore to end on {owner.Name}");
        Assert.True(owner.Output.Contains(done, StringComparison.Ordinal), owner.Output);
        Npgsql.NpgsqlConnection.ClearAllPools(); // the cluster was restarted
        Assert.Equal(5, await Pg.ScalarAsync<long>(pg, "SELECT count(*) FROM marks"));
        Assert.Equal(0, await Pg.ScalarAsync<long>(pg, "SELECT count(*) FROM marks WHERE note = 'after'"));
        Assert.Single(Directory.GetDirectories(Path.GetDirectoryName(pg.DataDirectory)!, "data.pgvault-before-restore-*"));
        Assert.DoesNotContain("restored in place", other.Output, StringComparison.Ordinal);

        // The queue's record: each forwarded action claimed by the owner once; the one nobody took, abandoned.
        Assert.Equal(
            [("restore", "done", owner.Name), ("restore", "done", other.Name), ("backup", "done", owner.Name), ("backup", "abandoned", null),
             ("backup", "done", owner.Name), ("restore", "done", owner.Name)],
            await ActionsAsync(fleet));
        Assert.Equal(1, owner.Output.Split('\n').Count(l => l.Contains("in-place restore of backup", StringComparison.Ordinal) && l.Contains("stopping the cluster", StringComparison.Ordinal)));
    }

    [GeneratedRegex(@"^pgvault_fleet_clusters_owned\{[^}]*\} (?<n>\d+)", RegexOptions.Multiline)]
    private static partial Regex OwnedSeries();

    public async ValueTask DisposeAsync()
    {
        // Last started, first stopped: the instances before the servers they talk to.
        for (var i = _cleanup.Count - 1; i >= 0; i--)
            await _cleanup[i].DisposeAsync();
    }

    private sealed class AsyncDisposer(Action dispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            dispose();
            return ValueTask.CompletedTask;
        }
    }
}
