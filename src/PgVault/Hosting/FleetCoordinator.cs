using System.Collections.Concurrent;
using System.Diagnostics;
using PgVault.Configuration;
using PgVault.Engine;
using PgVault.Fleet;

namespace PgVault.Hosting;

/// <summary>
/// This instance's part in a fleet (<c>Catalog:Provider=postgres</c>): every third of the lease TTL it heartbeats,
/// renews the leases it holds, computes who should back up each configured cluster (<see cref="FleetAssignment"/> over
/// the live instances), hands over the clusters that should go to another instance (stops the worker, then releases the
/// lease) and takes the free leases of the clusters that should be its own (then starts their workers, each under the
/// lease's fence). A lease not renewed (refused, or the catalog out of reach for a TTL) stops its worker at once. At a
/// clean stop (SIGTERM) it leaves the fleet, stops every worker and releases every lease, so the others take them at
/// their next round.
/// </summary>
public sealed class FleetCoordinator(PgVaultOptions options, ILeaseStore store, ILogger<FleetCoordinator> logger)
{
    /// <summary>How long a worker may take to stop (its streamer stores what it received first) before its lease is
    /// left to expire instead of being released.</summary>
    private static readonly TimeSpan WorkerStopTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Owned> _owned = new(StringComparer.Ordinal);
    private readonly FleetInstance _self = new(options.Fleet.EffectiveInstanceName, Environment.MachineName, Environment.ProcessId,
        DateTimeOffset.UtcNow, TimeSpan.Zero);
    private long _lastHeartbeat;
    private IReadOnlyList<string> _live = [];
    private long _acquisitions;
    private long _losses;

    private sealed class Owned(LeaseFence fence, ClusterWorker worker, CancellationTokenSource run, Task supervised)
    {
        public LeaseFence Fence { get; } = fence;
        public ClusterWorker Worker { get; } = worker;
        public CancellationTokenSource Run { get; } = run;
        public Task Supervised { get; } = supervised;
        public Task? Stopping { get; set; }
    }

    /// <summary>This instance's name in the fleet.</summary>
    public string InstanceName => _self.Name;

    public TimeSpan LeaseTtl => options.Fleet.LeaseTtl;

    public ILeaseStore Store => store;

    /// <summary>The clusters whose lease this instance holds (workers stopping included).</summary>
    public IReadOnlyCollection<string> OwnedClusters => _owned.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>The epoch of this instance's lease of the cluster, or null.</summary>
    public long? EpochOf(string clusterId) => _owned.TryGetValue(clusterId, out var o) ? o.Fence.Epoch : null;

    /// <summary>
    /// The leases this instance holds and backs the cluster up under (workers stopping and leases lapsed left out),
    /// cluster id → epoch: what the action queue may claim for.
    /// </summary>
    public IReadOnlyDictionary<string, long> HeldLeases =>
        _owned.Where(o => o.Value.Stopping is null && o.Value.Fence.IsHeld).ToDictionary(o => o.Key, o => o.Value.Fence.Epoch, StringComparer.Ordinal);

    /// <summary>Live instances at the last heartbeat (names).</summary>
    public IReadOnlyList<string> LiveInstances => Volatile.Read(ref _live);

    /// <summary>Time since the last heartbeat that went through, or null before the first one.</summary>
    public TimeSpan? SinceLastHeartbeat
    {
        get
        {
            var last = Volatile.Read(ref _lastHeartbeat);
            return last == 0 ? null : Stopwatch.GetElapsedTime(last);
        }
    }

    /// <summary>Leases taken since the start.</summary>
    public long Acquisitions => Interlocked.Read(ref _acquisitions);

    /// <summary>Leases lost (not released by this instance) since the start.</summary>
    public long Losses => Interlocked.Read(ref _losses);

    /// <summary>
    /// Whether this instance looks after a cluster that is not configured (expiry of its old backups): the one the
    /// rendezvous hash picks among the live instances.
    /// </summary>
    public bool IsCaretakerOf(string clusterId)
    {
        var live = LiveInstances;
        return live.Count > 0 && string.Equals(live.OrderByDescending(n => FleetAssignment.Weight(clusterId, n)).ThenBy(n => n, StringComparer.Ordinal).First(),
            InstanceName, StringComparison.Ordinal);
    }

    /// <summary>Runs the rounds until <paramref name="stopping"/>, then drains: leaves, stops every worker, releases every lease.</summary>
    /// <param name="engine">Where workers are created and registered.</param>
    /// <param name="supervise">Runs a worker until its token is cancelled (restarting it after failures).</param>
    /// <param name="stopping">The server's stop.</param>
    public async Task RunAsync(BackupEngine engine, Func<ClusterWorker, CancellationToken, Task> supervise, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(supervise);
        var interval = LeaseTtl / 3;
        logger.LogInformation("fleet: instance {Instance} joins (lease TTL {Ttl:0.#} s, {Clusters} configured clusters)", InstanceName,
            LeaseTtl.TotalSeconds, options.Clusters.Count);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await RoundAsync(engine, supervise, interval, stopping).ConfigureAwait(false);
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                logger.LogWarning("fleet: round failed: {Error}; the leases held run out {Ttl:0.#} s after their last renewal unless the next round renews them",
                    ex.Message, LeaseTtl.TotalSeconds);
            }

            StopLapsed(engine);
            try
            {
                await Task.Delay(interval, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        await DrainAsync(engine).ConfigureAwait(false);
    }

    /// <summary>One round: heartbeat, renew, hand over, take.</summary>
    public async Task RoundAsync(BackupEngine engine, Func<ClusterWorker, CancellationToken, Task> supervise, TimeSpan bound, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(engine);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(bound); // a hung catalog must not hold the round past the next renewal
        var started = Stopwatch.GetTimestamp();
        var live = await store.HeartbeatAsync(_self, LeaseTtl, limit.Token).ConfigureAwait(false);
        Volatile.Write(ref _lastHeartbeat, started);
        var names = live.Select(i => i.Name).Append(InstanceName).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        Volatile.Write(ref _live, names);

        // Renew what is held (workers still stopping included: their lease lasts until they have stopped).
        var held = _owned.Where(o => !o.Value.Fence.Lapsed.IsCancellationRequested).ToDictionary(o => o.Key, o => o.Value.Fence.Epoch, StringComparer.Ordinal);
        started = Stopwatch.GetTimestamp();
        var renewed = await store.RenewAsync(InstanceName, held, LeaseTtl, limit.Token).ConfigureAwait(false);
        foreach (var (clusterId, epoch) in held)
        {
            if (!_owned.TryGetValue(clusterId, out var owned))
                continue;
            if (renewed.Contains(clusterId))
            {
                owned.Fence.Renewed(started);
                continue;
            }

            Interlocked.Increment(ref _losses);
            logger.LogWarning("fleet: instance {Instance} lost the lease of cluster {Cluster} (epoch {Epoch}); its worker stops and commits nothing more",
                InstanceName, clusterId, epoch);
            owned.Fence.Lose();
            if (owned.Stopping is null)
                BeginStop(engine, clusterId, owned, release: false);
        }

        var assignment = FleetAssignment.Assign(options.Clusters.Select(c => c.Id), names);
        foreach (var (clusterId, owned) in _owned)
        {
            if (owned.Stopping is null && assignment.TryGetValue(clusterId, out var target) && !string.Equals(target, InstanceName, StringComparison.Ordinal))
            {
                logger.LogInformation("fleet: handing cluster {Cluster} over to instance {Target}", clusterId, target);
                BeginStop(engine, clusterId, owned, release: true);
            }
        }

        foreach (var cluster in options.Clusters)
        {
            if (!assignment.TryGetValue(cluster.Id, out var target) || !string.Equals(target, InstanceName, StringComparison.Ordinal)
                || _owned.ContainsKey(cluster.Id))
                continue;
            var before = Stopwatch.GetTimestamp();
            if (await store.TryAcquireAsync(cluster.Id, InstanceName, LeaseTtl, limit.Token).ConfigureAwait(false) is not { } epoch)
                continue; // still held by another instance: it hands it over at its next round, or its lease runs out
            var fence = new LeaseFence(store, cluster.Id, InstanceName, epoch, LeaseTtl, before);
            var worker = engine.Activate(cluster.Id, fence);
            var run = CancellationTokenSource.CreateLinkedTokenSource(fence.Lapsed);
            var supervised = Task.Run(() => supervise(worker, run.Token), CancellationToken.None);
            _owned[cluster.Id] = new Owned(fence, worker, run, supervised);
            Interlocked.Increment(ref _acquisitions);
            logger.LogInformation("fleet: instance {Instance} took the lease of cluster {Cluster} (epoch {Epoch}) and backs it up", InstanceName,
                cluster.Id, epoch);
        }
    }

    /// <summary>Workers whose lease lapsed locally (no renewal for a TTL: the catalog out of reach, a pause) are stopped.</summary>
    private void StopLapsed(BackupEngine engine)
    {
        foreach (var (clusterId, owned) in _owned)
        {
            if (owned.Stopping is null && !owned.Fence.IsHeld)
            {
                Interlocked.Increment(ref _losses);
                logger.LogWarning("fleet: the lease of cluster {Cluster} (epoch {Epoch}) ran out before it could be renewed; its worker stops",
                    clusterId, owned.Fence.Epoch);
                owned.Fence.Lose();
                BeginStop(engine, clusterId, owned, release: false);
            }
        }
    }

    /// <summary>Stops the worker in the background; then releases the lease (a handover) and forgets the cluster.</summary>
    private void BeginStop(BackupEngine engine, string clusterId, Owned owned, bool release)
    {
        owned.Stopping = Task.Run(async () =>
        {
            var stopped = await StopWorkerAsync(clusterId, owned).ConfigureAwait(false);
            engine.Deactivate(clusterId, owned.Worker);
            if (release && stopped)
                await ReleaseAsync(clusterId, owned).ConfigureAwait(false);
            owned.Fence.Lose();
            _owned.TryRemove(new KeyValuePair<string, Owned>(clusterId, owned));
            owned.Run.Dispose();
            owned.Fence.Dispose();
        });
    }

    private async Task<bool> StopWorkerAsync(string clusterId, Owned owned)
    {
        await owned.Run.CancelAsync().ConfigureAwait(false);
        try
        {
            await owned.Supervised.WaitAsync(WorkerStopTimeout).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            logger.LogWarning("fleet: the worker of cluster {Cluster} did not stop within {Seconds:0} s; its lease is left to run out",
                clusterId, WorkerStopTimeout.TotalSeconds);
            return false;
        }
        catch (Exception ex)
        {
            logger.LogWarning("fleet: the worker of cluster {Cluster} ended with an error: {Error}", clusterId, ex.Message);
            return true;
        }
    }

    private async Task ReleaseAsync(string clusterId, Owned owned)
    {
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await store.ReleaseAsync(clusterId, InstanceName, owned.Fence.Epoch, limit.Token).ConfigureAwait(false);
            logger.LogInformation("fleet: instance {Instance} released the lease of cluster {Cluster} (epoch {Epoch})", InstanceName, clusterId,
                owned.Fence.Epoch);
        }
        catch (Exception ex)
        {
            logger.LogWarning("fleet: could not release the lease of cluster {Cluster}: {Error}; it runs out within {Ttl:0.#} s", clusterId, ex.Message,
                LeaseTtl.TotalSeconds);
        }
    }

    /// <summary>A clean stop: leave the fleet first (the others stop counting on this instance), stop every worker, release every lease.</summary>
    private async Task DrainAsync(BackupEngine engine)
    {
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await store.LeaveAsync(InstanceName, limit.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            logger.LogWarning("fleet: could not leave the fleet cleanly: {Error}", ex.Message);
        }

        foreach (var (clusterId, owned) in _owned)
        {
            if (owned.Stopping is null)
                BeginStop(engine, clusterId, owned, release: owned.Fence.IsHeld);
        }

#pragma warning disable VSTHRD003 // the stops are this coordinator's own tasks, started by BeginStop
        await Task.WhenAll(_owned.Values.Select(o => o.Stopping!)).ConfigureAwait(false);
#pragma warning restore VSTHRD003
        logger.LogInformation("fleet: instance {Instance} left the fleet", InstanceName);
    }
}
