using PgVault.Catalog;
using PgVault.Configuration;
using Cronos;
using PgVault.Engine;
using PgVault.Engine.Retention;
using PgVault.Engine.Storage;
using PgVault.Engine.Storage.Encryption;
using PgVault.Errors;
using PgVault.Postgres;
using PgVault.Storage;
using PgVault.Storage.S3;

namespace PgVault.Hosting;

/// <summary>
/// The repositories of the configured locations, one store each, built on first use: a <see cref="LocalObjectStore"/>
/// for <c>filesystem</c>, an <see cref="S3ObjectStore"/> for <c>s3</c>, either wrapped in an
/// <see cref="EncryptingObjectStore"/> when the location configures <c>Encryption</c>.
/// </summary>
public sealed class LocationStores(PgVaultOptions options, ILoggerFactory? loggers = null) : IDisposable
{
    private readonly Dictionary<string, IObjectStore> _stores = new(StringComparer.Ordinal);
    private readonly Dictionary<string, S3ObjectStore> _s3 = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public IObjectStore Get(string location)
    {
        lock (_lock)
        {
            if (_stores.TryGetValue(location, out var store))
                return store;
            if (!options.Locations.TryGetValue(location, out var loc))
                throw new PgVaultException(ErrorCode.InvalidConfiguration, $"backup location '{location}' is not configured");
            var key = $"{PgVaultOptions.SectionName}:Locations:{location}";
            if (string.Equals(loc.Type, LocationOptions.S3, StringComparison.Ordinal))
            {
                var s3 = new S3ObjectStore(S3Options(loc), loggers?.CreateLogger("PgVault.Storage.S3." + location));
                _s3[location] = s3;
                store = s3;
            }
            else
            {
                store = new LocalObjectStore(FilesystemPath(options, loc), groupAccess: options.GroupAccess);
            }

            if (loc.Encryption is { } encryption)
                store = new EncryptingObjectStore(store, EncryptionKeyRing.FromOptions(encryption, options.DataDirectoryFullPath, $"{key}:Encryption"));
            _stores[location] = store;
            return store;
        }
    }

    /// <summary>The directory of a filesystem location (relative paths are taken from <c>DataDirectory</c>).</summary>
    public static string FilesystemPath(PgVaultOptions options, LocationOptions location)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(location);
        return Path.IsPathRooted(location.Path!) ? location.Path! : Path.Combine(options.DataDirectoryFullPath, location.Path!);
    }

    /// <summary>
    /// Aborts the abandoned multipart uploads (older than the location's <c>AbandonedUploadAge</c>) of every s3 location
    /// the configured clusters use; returns how many. <c>serve</c> calls it at start-up.
    /// </summary>
    public async Task<int> AbortAbandonedUploadsAsync(CancellationToken ct)
    {
        var aborted = 0;
        foreach (var (name, loc) in options.Locations)
        {
            if (!string.Equals(loc.Type, LocationOptions.S3, StringComparison.Ordinal) || loc.AbandonedUploadAge <= TimeSpan.Zero
                || !options.Clusters.Any(c => string.Equals(c.BackupLocation, name, StringComparison.Ordinal)))
            {
                continue;
            }

            Get(name);
            S3ObjectStore s3;
            lock (_lock)
                s3 = _s3[name];
            aborted += await s3.AbortAbandonedUploadsAsync(loc.AbandonedUploadAge, ct).ConfigureAwait(false);
        }

        return aborted;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var s3 in _s3.Values)
                s3.Dispose();
            _s3.Clear();
            _stores.Clear();
        }
    }

    /// <summary>The store options of an s3 location (validated by <see cref="PgVaultOptionsValidator"/>).</summary>
    public static S3ObjectStoreOptions S3Options(LocationOptions loc)
    {
        ArgumentNullException.ThrowIfNull(loc);
        return new S3ObjectStoreOptions
        {
            Bucket = loc.Bucket!,
            Prefix = loc.Prefix,
            Endpoint = string.IsNullOrEmpty(loc.Endpoint) ? null : new Uri(loc.Endpoint),
            Region = loc.Region,
            ForcePathStyle = loc.ForcePathStyle,
            AccessKeyId = loc.AccessKeyId,
            SecretAccessKey = loc.SecretAccessKey,
            SessionToken = loc.SessionToken,
            StorageClass = loc.StorageClass,
            PartSizeBytes = loc.PartSizeBytes,
            UploadConcurrency = loc.UploadConcurrency,
            ReadConcurrency = loc.ReadConcurrency,
        };
    }
}

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
