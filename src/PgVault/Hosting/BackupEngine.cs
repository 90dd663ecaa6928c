using System.Collections.Concurrent;
using PgVault.Catalog;
using PgVault.Configuration;
using Cronos;
using PgVault.Engine;
using PgVault.Engine.Retention;
using PgVault.Engine.Storage.Encryption;
using PgVault.Errors;
using PgVault.Fleet;
using PgVault.Postgres;
using PgVault.Storage.S3;

namespace PgVault.Hosting;

/// <summary>
/// One <see cref="ClusterWorker"/> per configured cluster; expiry runs alongside them (<see cref="IExpiryCoordinator"/>).
/// In a fleet (<see cref="Fleet"/>), only the clusters whose lease this instance holds have a worker, each created when
/// the lease is taken (<see cref="Activate"/>), so a cluster taken back later starts from the catalog, not from what
/// this instance saw before.
/// </summary>
public sealed class BackupEngine : IExpiryCoordinator
{
    private readonly ConcurrentDictionary<string, ClusterWorker> _workers = new(StringComparer.Ordinal);
    private readonly PgVaultOptions _options;
    private readonly LocationStores _stores;
    private readonly ICatalog _catalog;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _expiryLogger;

    /// <param name="options">The configuration.</param>
    /// <param name="stores">The locations' stores.</param>
    /// <param name="catalog">The catalog.</param>
    /// <param name="time">The clock.</param>
    /// <param name="loggers">Where the workers and expiry log.</param>
    /// <param name="fleet">This instance's part in a fleet, or null for a single instance (every cluster's worker at once).</param>
    public BackupEngine(PgVaultOptions options, LocationStores stores, ICatalog catalog, TimeProvider time, ILoggerFactory loggers,
        FleetCoordinator? fleet = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stores);
        ArgumentNullException.ThrowIfNull(loggers);
        _options = options;
        _stores = stores;
        _catalog = catalog;
        _time = time;
        _loggers = loggers;
        Fleet = fleet;
        _expiryLogger = loggers.CreateLogger("PgVault.Engine.Expiry");
        if (fleet is null)
        {
            foreach (var c in options.Clusters)
                _workers[c.Id] = NewWorker(c, null);
        }
    }

    /// <summary>This instance's part in a fleet, or null (a single instance).</summary>
    public FleetCoordinator? Fleet { get; }

    public IReadOnlyCollection<ClusterWorker> Workers => _workers.Values.ToList();

    public ClusterWorker? Find(string clusterId) => _workers.GetValueOrDefault(clusterId);

    private ClusterWorker NewWorker(ClusterOptions c, IClusterFence? fence) =>
        new(c, _stores.Get(c.BackupLocation), _catalog, _options.Engine, _time, _loggers.CreateLogger("PgVault.Engine." + c.Id), fence);

    /// <summary>A new worker for a cluster whose lease this instance has just taken, running under its fence.</summary>
    public ClusterWorker Activate(string clusterId, IClusterFence fence)
    {
        var cluster = _options.Clusters.First(c => string.Equals(c.Id, clusterId, StringComparison.Ordinal));
        var worker = NewWorker(cluster, fence);
        _workers[clusterId] = worker;
        return worker;
    }

    /// <summary>The worker of a cluster whose lease this instance gave up (or lost) has stopped.</summary>
    public void Deactivate(string clusterId, ClusterWorker worker) =>
        _workers.TryRemove(new KeyValuePair<string, ClusterWorker>(clusterId, worker));

    /// <summary>
    /// Refuses an action on a cluster that another instance of the fleet backs up (503, naming that instance); nothing
    /// for a single instance or the cluster's owner.
    /// </summary>
    public async Task RefuseIfNotOwnerAsync(string clusterId, CancellationToken ct)
    {
        if (Fleet is null || !_options.Engine.Enabled || Find(clusterId) is not null)
            return;
        var lease = await Fleet.Store.GetLeaseAsync(clusterId, ct).ConfigureAwait(false);
        var owner = lease is { Held: true, Owner: { } o } ? $"instance '{o}'" : "no instance at the moment (it is being taken over)";
        throw new PgVaultException(ErrorCode.Unavailable,
            $"cluster '{clusterId}' is backed up by another instance of the fleet: {owner}; this is instance '{Fleet.InstanceName}'",
            "send the request to the instance that backs the cluster up (GET /fleet lists them), or retry in a few seconds during a takeover");
    }

    /// <summary>One expiry run over every configured location, coordinated with the running workers.</summary>
    public Task<ExpiryReport> ExpireAsync(CancellationToken ct) =>
        new ExpiryRunner(_options, _options.Locations.Keys.ToDictionary(k => k, _stores.Get, StringComparer.Ordinal), _catalog, _time, _expiryLogger)
            .RunAsync(null, dryRun: false, this, ct);

    Task IExpiryCoordinator.RunExclusiveAsync(string clusterId, Func<CancellationToken, Task> action, CancellationToken ct)
    {
        if (Find(clusterId) is { } worker)
            return worker.RunExclusiveAsync(action, ct);
        // In a fleet, a configured cluster is expired by the instance backing it up, any other by one instance (its caretaker).
        if (Fleet is not null && (IsConfigured(clusterId) || !Fleet.IsCaretakerOf(clusterId)))
            return Task.CompletedTask;
        return action(ct);
    }

    Task IExpiryCoordinator.EnsureOwnedAsync(string clusterId, CancellationToken ct)
    {
        if (Find(clusterId) is { } worker)
            return worker.Fence.EnsureHeldAsync(ct);
        if (Fleet is not null && (IsConfigured(clusterId) || !Fleet.IsCaretakerOf(clusterId)))
        {
            throw new PgVaultException(ErrorCode.LeaseLost, $"instance '{Fleet.InstanceName}' no longer looks after cluster '{clusterId}'",
                "the instance that does now expires its backups");
        }

        return Task.CompletedTask;
    }

    private bool IsConfigured(string clusterId) => _options.Clusters.Any(c => string.Equals(c.Id, clusterId, StringComparison.Ordinal));

    async Task<bool> IExpiryCoordinator.OnExpiredAsync(string clusterId, string backupId, Lsn? walStart, long walBytesRemoved, CancellationToken ct) =>
        Find(clusterId) is { } worker && await worker.Chain.OnExpiredAsync(backupId, walStart, walBytesRemoved, ct).ConfigureAwait(false);
}

/// <summary>
/// Runs every cluster's worker while <c>serve</c> runs (when <c>PgVault:Engine:Enabled</c>). A worker that fails is
/// logged and restarted after a pause: one cluster's trouble never stops the API or the other clusters.
/// </summary>
public sealed class BackupEngineService(
    BackupEngine engine, LocationStores stores, PgVaultOptions options, ILogger<BackupEngineService> logger) : BackgroundService
{
    private static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Engine.Enabled)
            return;
        await AbortAbandonedUploadsAsync(stoppingToken).ConfigureAwait(false);
        if (engine.Fleet is { } fleet)
        {
            // Workers run on the clusters whose lease this instance holds, each until its lease is given up or lost.
            await Task.WhenAll(fleet.RunAsync(engine, SuperviseAsync, stoppingToken), ExpireOnScheduleAsync(stoppingToken)).ConfigureAwait(false);
            return;
        }

        await Task.WhenAll(engine.Workers.Select(w => SuperviseAsync(w, stoppingToken)).Append(ExpireOnScheduleAsync(stoppingToken)))
            .ConfigureAwait(false);
    }

    /// <summary>Start-up housekeeping: the invisible multipart uploads of writes that died with an earlier pgvault.</summary>
    private async Task AbortAbandonedUploadsAsync(CancellationToken ct)
    {
        try
        {
            var aborted = await stores.AbortAbandonedUploadsAsync(ct).ConfigureAwait(false);
            if (aborted > 0)
                logger.LogInformation("aborted {Count} abandoned multipart uploads", aborted);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            // Housekeeping only: backups go on (an unreachable bucket shows up as the workers' own errors).
            logger.LogWarning(ex, "unable to clean up abandoned multipart uploads; trying again at the next start");
        }
    }

    /// <summary>Runs expiry on <c>Engine:ExpirySchedule</c>; a failed run is logged and the next one tries again.</summary>
    private async Task ExpireOnScheduleAsync(CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(options.Engine.ExpirySchedule))
            return;
        var schedule = CronExpression.Parse(options.Engine.ExpirySchedule);
        while (!ct.IsCancellationRequested)
        {
            var now = DateTime.UtcNow;
            if (schedule.GetNextOccurrence(now, TimeZoneInfo.Utc) is not { } next)
                return;
            try
            {
                await Task.Delay(next - now, ct).ConfigureAwait(false);
                await engine.ExpireAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "expire: the run failed; the next scheduled run ({Schedule}) finishes the job", options.Engine.ExpirySchedule);
            }
        }
    }

    private async Task SuperviseAsync(ClusterWorker worker, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await worker.RunAsync(ct).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                logger.LogError(ex, "cluster {Cluster}: the backup worker failed; restarting it in {Delay} s", worker.Cluster.Id,
                    RestartDelay.TotalSeconds);
                try
                {
                    await Task.Delay(RestartDelay, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
