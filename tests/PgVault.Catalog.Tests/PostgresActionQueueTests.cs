using System.Diagnostics;
using PgVault.Catalog.Postgres;
using PgVault.Fleet;
using Xunit;

namespace PgVault.Catalog.Tests;

/// <summary>
/// The fleet's action queue in a real PostgreSQL catalog: an action is claimed once, only by the holder of the cluster's
/// lease with its current epoch, never after it was abandoned or its deadline passed.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class PostgresActionQueueTests(PostgresServer server) : IAsyncDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);
    private readonly List<IAsyncDisposable> _open = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(PostgresActionQueue Queue, PostgresLeaseStore Leases, string Cs)> OpenAsync(string name)
    {
        var cs = await server.CreateDatabaseAsync(name);
        var catalog = new PostgresCatalog(cs);
        _open.Add(catalog);
        await catalog.MigrateAsync(Ct);
        var leases = new PostgresLeaseStore(cs);
        _open.Add(leases);
        var queue = new PostgresActionQueue(cs);
        _open.Add(queue);
        return (queue, leases, cs);
    }

    private static Dictionary<string, long> Held(string clusterId, long epoch) => new() { [clusterId] = epoch };

    [Fact]
    public async Task An_action_is_claimed_by_the_lease_holder_once_and_its_outcome_read_by_the_origin()
    {
        var (queue, leases, _) = await OpenAsync("actions-basic");
        Assert.Equal(1, await leases.TryAcquireAsync("c1", "owner", Long, Ct));
        var id = await queue.EnqueueAsync("c1", "backup", """{"type":"incr"}""", "origin", Long, Ct);
        Assert.Equal(new QueuedActionStatus(id, QueuedActionState.Pending, null, null), await queue.GetAsync(id, Ct));

        // Not the holder, a stale epoch, another cluster: nothing.
        Assert.Empty(await queue.ClaimAsync("origin", Held("c1", 1), Ct));
        Assert.Empty(await queue.ClaimAsync("owner", Held("c1", 2), Ct));
        Assert.Empty(await queue.ClaimAsync("owner", Held("c2", 1), Ct));

        var claimed = Assert.Single(await queue.ClaimAsync("owner", Held("c1", 1), Ct));
        Assert.Equal(new QueuedAction(id, "c1", "backup", """{"type":"incr"}""", "origin", 1), claimed);
        Assert.Empty(await queue.ClaimAsync("owner", Held("c1", 1), Ct));
        Assert.False(await queue.AbandonAsync(id, Ct)); // claimed first: it goes on
        Assert.Equal(QueuedActionState.Claimed, (await queue.GetAsync(id, Ct))!.State);

        Assert.False(await queue.CompleteAsync(id, "origin", "{}", Ct)); // only the claimer records the outcome
        Assert.True(await queue.CompleteAsync(id, "owner", """{"result":"accepted"}""", Ct));
        Assert.False(await queue.CompleteAsync(id, "owner", "{}", Ct));
        Assert.Equal(new QueuedActionStatus(id, QueuedActionState.Done, "owner", """{"result":"accepted"}"""), await queue.GetAsync(id, Ct));
        Assert.Null(await queue.GetAsync(Guid.NewGuid(), Ct));
    }

    [Fact]
    public async Task An_abandoned_or_late_action_is_never_claimed()
    {
        var (queue, leases, _) = await OpenAsync("actions-late");
        Assert.Equal(1, await leases.TryAcquireAsync("c1", "owner", Long, Ct));
        var abandoned = await queue.EnqueueAsync("c1", "restore", "{}", "origin", Long, Ct);
        Assert.True(await queue.AbandonAsync(abandoned, Ct));
        Assert.False(await queue.AbandonAsync(abandoned, Ct));
        Assert.Equal(QueuedActionState.Abandoned, (await queue.GetAsync(abandoned, Ct))!.State);

        var late = await queue.EnqueueAsync("c1", "restore", "{}", "origin", TimeSpan.FromMilliseconds(200), Ct);
        await Task.Delay(TimeSpan.FromMilliseconds(400), Ct);
        Assert.Empty(await queue.ClaimAsync("owner", Held("c1", 1), Ct));
        Assert.Equal(QueuedActionState.Pending, (await queue.GetAsync(late, Ct))!.State); // the origin abandons it
        Assert.True(await queue.AbandonAsync(late, Ct));

        // An expired lease claims nothing either, even with its epoch.
        Assert.Equal(1, await leases.TryAcquireAsync("c2", "owner", TimeSpan.FromMilliseconds(200), Ct));
        await queue.EnqueueAsync("c2", "backup", "{}", "origin", Long, Ct);
        await Task.Delay(TimeSpan.FromMilliseconds(400), Ct);
        Assert.Empty(await queue.ClaimAsync("owner", Held("c2", 1), Ct));

        Assert.Equal(0, await queue.PruneAsync(Long, Ct)); // nothing old enough
        Assert.Equal(2, await queue.PruneAsync(TimeSpan.Zero, Ct)); // the two abandoned; c2's is pending, its deadline a minute away
        Assert.Null(await queue.GetAsync(late, Ct));
    }

    [Fact]
    public async Task Many_actions_claimed_by_racing_claimers_and_abandoners_each_go_to_exactly_one()
    {
        var (_, leases, cs) = await OpenAsync("actions-race");
        Assert.Equal(1, await leases.TryAcquireAsync("c1", "owner", Long, Ct));
        var queues = new List<PostgresActionQueue>();
        for (var i = 0; i < 4; i++)
        {
            var q = new PostgresActionQueue(cs);
            _open.Add(q);
            queues.Add(q);
        }

        const int count = 200;
        var ids = new List<Guid>();
        for (var i = 0; i < count; i++)
            ids.Add(await queues[0].EnqueueAsync("c1", "backup", $$"""{"n":{{i}}}""", "origin", Long, Ct));

        // Four claimers (the same instance, as after a restart of its loop, or several loops) and an abandoner, at once.
        using var start = new SemaphoreSlim(0);
        var claims = queues.Select(q => Task.Run(async () =>
        {
            await start.WaitAsync(Ct);
            var mine = new List<Guid>();
            for (var round = 0; round < 50; round++)
                mine.AddRange((await q.ClaimAsync("owner", Held("c1", 1), Ct)).Select(a => a.Id));
            return mine;
        }, Ct)).ToList();
        var abandon = Task.Run(async () =>
        {
            await start.WaitAsync(Ct);
            var gone = new List<Guid>();
            foreach (var id in ids.AsEnumerable().Reverse())
            {
                if (await queues[0].AbandonAsync(id, Ct))
                    gone.Add(id);
            }

            return gone;
        }, Ct);
        start.Release(5);
        var claimed = (await Task.WhenAll(claims)).SelectMany(c => c).ToList();
        var abandoned = await abandon;

        Assert.Equal(claimed.Count, claimed.Distinct().Count());
        Assert.Empty(claimed.Intersect(abandoned));
        Assert.Equal(ids.Order(), claimed.Concat(abandoned).Order());
        foreach (var id in ids)
        {
            var state = (await queues[0].GetAsync(id, Ct))!.State;
            Assert.Equal(claimed.Contains(id) ? QueuedActionState.Claimed : QueuedActionState.Abandoned, state);
        }
    }

    [Fact]
    public async Task An_enqueue_wakes_a_listener_before_its_poll_interval()
    {
        var (queue, _, cs) = await OpenAsync("actions-notify");
        var listener = new PostgresActionQueue(cs);
        _open.Add(listener);
        await listener.WaitForEnqueuedAsync(TimeSpan.FromSeconds(30), Ct); // the first call starts listening and returns

        var clock = Stopwatch.StartNew();
        var woken = listener.WaitForEnqueuedAsync(TimeSpan.FromSeconds(30), Ct);
        await Task.Delay(200, Ct);
        await queue.EnqueueAsync("c1", "backup", "{}", "origin", Long, Ct);
        await woken.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"woken after {clock.Elapsed.TotalSeconds:0.0} s");
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _open.Count - 1; i >= 0; i--)
            await _open[i].DisposeAsync();
    }
}
