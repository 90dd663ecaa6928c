using PgVault.Catalog;
using PgVault.Configuration;
using Cronos;
using PgVault.Engine;
using PgVault.Engine.Retention;
using PgVault.Engine.Storage.Encryption;
using PgVault.Errors;
using PgVault.Postgres;
using PgVault.Storage.S3;

namespace PgVault.Hosting;

/// <summary>One <see cref="ClusterWorker"/> per configured cluster; expiry runs alongside them (<see cref="IExpiryCoordinator"/>).</summary>
public sealed class BackupEngine : IExpiryCoordinator
{
    private readonly Dictionary<string, ClusterWorker> _workers = new(StringComparer.Ordinal);
    private readonly PgVaultOptions _options;
    private readonly LocationStores _stores;
    private readonly ICatalog _catalog;
    private readonly TimeProvider _time;
    private readonly ILogger _expiryLogger;

    public BackupEngine(PgVaultOptions options, LocationStores stores, ICatalog catalog, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stores);
        ArgumentNullException.ThrowIfNull(loggers);
        _options = options;
        _stores = stores;
        _catalog = catalog;
        _time = time;
        _expiryLogger = loggers.CreateLogger("PgVault.Engine.Expiry");
        foreach (var c in options.Clusters)
        {
            _workers[c.Id] = new ClusterWorker(c, stores.Get(c.BackupLocation), catalog, options.Engine, time,
                loggers.CreateLogger("PgVault.Engine." + c.Id));
        }
    }

    public IReadOnlyCollection<ClusterWorker> Workers => _workers.Values;

    public ClusterWorker? Find(string clusterId) => _workers.GetValueOrDefault(clusterId);

    /// <summary>One expiry run over every configured location, coordinated with the running workers.</summary>
    public Task<ExpiryReport> ExpireAsync(CancellationToken ct) =>
        new ExpiryRunner(_options, _options.Locations.Keys.ToDictionary(k => k, _stores.Get, StringComparer.Ordinal), _catalog, _time, _expiryLogger)
            .RunAsync(null, dryRun: false, this, ct);

    Task IExpiryCoordinator.RunExclusiveAsync(string clusterId, Func<CancellationToken, Task> action, CancellationToken ct) =>
        Find(clusterId) is { } worker ? worker.RunExclusiveAsync(action, ct) : action(ct);

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
