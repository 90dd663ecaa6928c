using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine;
using PgVault.Engine.Storage;
using PgVault.Errors;
using PgVault.Storage;

namespace PgVault.Hosting;

/// <summary>The repositories of the configured locations, one store each.</summary>
public sealed class LocationStores(PgVaultOptions options)
{
    private readonly Dictionary<string, IObjectStore> _stores = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public IObjectStore Get(string location)
    {
        lock (_lock)
        {
            if (_stores.TryGetValue(location, out var store))
                return store;
            if (!options.Locations.TryGetValue(location, out var loc))
                throw new PgVaultException(ErrorCode.InvalidConfiguration, $"backup location '{location}' is not configured");
            store = new LocalObjectStore(FilesystemPath(options, loc));
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
}

/// <summary>One <see cref="ClusterWorker"/> per configured cluster.</summary>
public sealed class BackupEngine
{
    private readonly Dictionary<string, ClusterWorker> _workers = new(StringComparer.Ordinal);

    public BackupEngine(PgVaultOptions options, LocationStores stores, ICatalog catalog, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stores);
        ArgumentNullException.ThrowIfNull(loggers);
        foreach (var c in options.Clusters)
        {
            _workers[c.Id] = new ClusterWorker(c, stores.Get(c.BackupLocation), catalog, options.Engine, time,
                loggers.CreateLogger("PgVault.Engine." + c.Id));
        }
    }

    public IReadOnlyCollection<ClusterWorker> Workers => _workers.Values;

    public ClusterWorker? Find(string clusterId) => _workers.GetValueOrDefault(clusterId);
}

/// <summary>
/// Runs every cluster's worker while <c>serve</c> runs (when <c>PgVault:Engine:Enabled</c>). A worker that fails is
/// logged and restarted after a pause: one cluster's trouble never stops the API or the other clusters.
/// </summary>
public sealed class BackupEngineService(BackupEngine engine, PgVaultOptions options, ILogger<BackupEngineService> logger) : BackgroundService
{
    private static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(10);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.Engine.Enabled
            ? Task.WhenAll(engine.Workers.Select(w => SuperviseAsync(w, stoppingToken)))
            : Task.CompletedTask;

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
