using System.Diagnostics;
using PgVault.Catalog.Postgres;
using PgVault.Fleet;
using Xunit;

namespace PgVault.Catalog.Tests;

/// <summary>The fleet's leases and membership in a real PostgreSQL catalog: who holds a lease is decided by the catalog alone.</summary>
[Trait("Category", "Postgres")]
public sealed class PostgresLeaseStoreTests(PostgresServer server) : IAsyncDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);
    private readonly List<IAsyncDisposable> _open = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<PostgresLeaseStore> StoreAsync(string name)
    {
        var cs = await server.CreateDatabaseAsync(name);
        var catalog = new PostgresCatalog(cs);
        _open.Add(catalog);
        await catalog.MigrateAsync(Ct);
        var store = new PostgresLeaseStore(cs);
        _open.Add(store);
        return store;
    }

    private static FleetInstance Instance(string name) => new(name, "host", 42, DateTimeOffset.UtcNow, TimeSpan.Zero);

    [Fact]
    public async Task A_free_lease_is_taken_once_renewed_by_its_holder_only_and_released_to_the_next_with_a_higher_epoch()
    {
        var store = await StoreAsync("lease-basic");
        Assert.Null(await store.GetLeaseAsync("c1", Ct));
        Assert.Equal(1, await store.TryAcquireAsync("c1", "a", Long, Ct));
        Assert.Null(await store.TryAcquireAsync("c1", "b", Long, Ct));
        Assert.Null(await store.TryAcquireAsync("c1", "a", Long, Ct)); // held, by itself too

        Assert.Equal(["c1"], await store.RenewAsync("a", new Dictionary<string, long> { ["c1"] = 1 }, Long, Ct));
        Assert.Empty(await store.RenewAsync("b", new Dictionary<string, long> { ["c1"] = 1 }, Long, Ct));
        Assert.Empty(await store.RenewAsync("a", new Dictionary<string, long> { ["c1"] = 2 }, Long, Ct));

        await store.ReleaseAsync("c1", "b", 1, Ct); // not b's: nothing happens
        Assert.Equal("a", (await store.GetLeaseAsync("c1", Ct))!.Owner);
        await store.ReleaseAsync("c1", "a", 1, Ct);
        var released = (await store.GetLeaseAsync("c1", Ct))!;
        Assert.False(released.Held);
        Assert.Null(released.Owner);

        Assert.Equal(2, await store.TryAcquireAsync("c1", "b", Long, Ct));
        Assert.Empty(await store.RenewAsync("a", new Dictionary<string, long> { ["c1"] = 1 }, Long, Ct));
        var lease = (await store.GetLeaseAsync("c1", Ct))!;
        Assert.Equal(("b", 2L, true), (lease.Owner, lease.Epoch, lease.Held));
        Assert.InRange(lease.Remaining, TimeSpan.FromSeconds(50), Long);
    }

    [Fact]
    public async Task An_expired_lease_goes_to_the_next_instance_and_its_old_holder_can_no_longer_renew_it()
    {
        var store = await StoreAsync("lease-expiry");
        var ttl = TimeSpan.FromMilliseconds(300);
        Assert.Equal(1, await store.TryAcquireAsync("c1", "a", ttl, Ct));
        Assert.Null(await store.TryAcquireAsync("c1", "b", Long, Ct));

        var clock = Stopwatch.StartNew();
        long? epoch;
        while ((epoch = await store.TryAcquireAsync("c1", "b", Long, Ct)) is null)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the lease did not expire within 10 s of a 0.3 s TTL");
            await Task.Delay(50, Ct);
        }

        Assert.Equal(2, epoch);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(200), $"taken after {clock.Elapsed.TotalMilliseconds} ms, before the TTL ran out");
        Assert.Empty(await store.RenewAsync("a", new Dictionary<string, long> { ["c1"] = 1 }, Long, Ct));
    }

    [Fact]
    public async Task Instances_racing_for_one_lease_get_it_once()
    {
        var store = await StoreAsync("lease-race");
        for (var round = 0; round < 5; round++)
        {
            var cluster = $"c{round}";
            var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => store.TryAcquireAsync(cluster, $"i{i}", Long, Ct), Ct)));
            Assert.Single(results, r => r is not null);
            var winner = results.Select((r, i) => (r, i)).Single(x => x.r is not null).i;
            Assert.Equal($"i{winner}", (await store.GetLeaseAsync(cluster, Ct))!.Owner);
        }
    }

    [Fact]
    public async Task Renewing_many_leases_is_one_statement_that_renews_exactly_those_still_held()
    {
        var store = await StoreAsync("lease-many");
        var held = new Dictionary<string, long>();
        for (var i = 0; i < 50; i++)
            held[$"c{i:00}"] = (await store.TryAcquireAsync($"c{i:00}", "a", Long, Ct))!.Value;
        await store.ReleaseAsync("c07", "a", held["c07"], Ct);
        Assert.Equal(2, await store.TryAcquireAsync("c07", "b", Long, Ct));

        var renewed = await store.RenewAsync("a", held, Long, Ct);
        Assert.Equal(49, renewed.Count);
        Assert.DoesNotContain("c07", renewed);
        Assert.Equal(50, (await store.ListLeasesAsync(Ct)).Count(l => l.Held));
    }

    [Fact]
    public async Task A_silent_instance_drops_out_of_the_live_ones_and_a_leaving_one_is_forgotten()
    {
        var store = await StoreAsync("lease-members");
        var ttl = TimeSpan.FromMilliseconds(500);
        await store.HeartbeatAsync(Instance("a"), ttl, Ct);
        var live = await store.HeartbeatAsync(Instance("b"), ttl, Ct);
        Assert.Equal(["a", "b"], live.Select(i => i.Name));
        Assert.All(live, i => Assert.InRange(i.HeartbeatAge, TimeSpan.Zero, ttl));

        var clock = Stopwatch.StartNew();
        while ((await store.HeartbeatAsync(Instance("b"), ttl, Ct)).Any(i => i.Name == "a"))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "a silent instance stayed live");
            await Task.Delay(50, Ct);
        }

        var all = await store.ListInstancesAsync(Ct);
        Assert.Equal(["a", "b"], all.Select(i => i.Name)); // still listed (for GET /fleet), no longer live
        Assert.True(all[0].HeartbeatAge >= ttl);
        await store.LeaveAsync("b", Ct);
        Assert.Equal(["a"], (await store.ListInstancesAsync(Ct)).Select(i => i.Name));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _open)
            await d.DisposeAsync();
    }
}
