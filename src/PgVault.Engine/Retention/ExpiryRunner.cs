using System.Globalization;
using Microsoft.Extensions.Logging;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Storage;

namespace PgVault.Engine.Retention;

/// <summary>What one expiry run found or did, per location and chain.</summary>
public sealed record ExpiryReport(IReadOnlyList<(string Location, ChainExpiryPlan Plan)> Plans, bool DryRun, int ObjectsDeleted, long BytesDeleted)
{
    public int Objects => Plans.Sum(p => p.Plan.Objects);

    public long Bytes => Plans.Sum(p => p.Plan.Bytes);
}

/// <summary>
/// One expiry run over every configured location: scan, plan (<see cref="ExpiryPlanner"/>) with each cluster's
/// <see cref="ClusterOptions.RetentionDays"/> (the default for clusters no longer configured), and execute
/// (<see cref="ExpiryExecutor"/>) each cluster's plans while none of its base backups runs. Logs one line with the
/// figures. Used by <c>serve</c> on <see cref="EngineOptions.ExpirySchedule"/> and by <c>pgvault expire</c>.
/// </summary>
public sealed class ExpiryRunner(PgVaultOptions options, IReadOnlyDictionary<string, IObjectStore> locations, ICatalog catalog, TimeProvider time,
    ILogger logger)
{
    public async Task<ExpiryReport> RunAsync(string? clusterId, bool dryRun, IExpiryCoordinator? coordinator, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var planned = new List<(string Location, ChainExpiryPlan Plan)>();
        var objects = 0;
        long bytes = 0;
        foreach (var (location, store) in locations)
        {
            var chains = await RepositoryScanner.ScanAsync(store, clusterId, ct).ConfigureAwait(false);
            var plans = ExpiryPlanner.Plan(chains, id => PolicyOf(id, location), now);
            planned.AddRange(plans.Where(p => !p.IsEmpty).Select(p => (location, p)));
            if (dryRun)
                continue;
            var executor = new ExpiryExecutor(store, catalog, time, logger);
            foreach (var cluster in plans.GroupBy(p => p.Chain.ClusterId, StringComparer.Ordinal))
            {
                async Task ExpireClusterAsync(CancellationToken token)
                {
                    foreach (var plan in cluster)
                    {
                        if (!plan.IsEmpty)
                        {
                            var done = await executor.ExecuteAsync(plan, coordinator, token).ConfigureAwait(false);
                            objects += done.ObjectsDeleted;
                            bytes += done.BytesDeleted;
                        }

                        await executor.DeleteStaleFailedRowsAsync(plan.Chain, token).ConfigureAwait(false);
                    }
                }

                if (coordinator is null)
                    await ExpireClusterAsync(ct).ConfigureAwait(false);
                else
                    await coordinator.RunExclusiveAsync(cluster.Key, ExpireClusterAsync, ct).ConfigureAwait(false);
            }
        }

        var report = new ExpiryReport(planned, dryRun, objects, bytes);
        var windows = planned.Where(p => p.Plan is { Whole: false, NewWindowStart: not null })
            .Select(p => $"{p.Plan.BackupId} from {ExpiryPlanner.Format(p.Plan.NewWindowStart!.Value)}");
        var whole = planned.Where(p => p.Plan.Whole).Select(p => p.Plan.BackupId ?? $"{p.Plan.Chain.ClusterId}/{p.Plan.Chain.ChainId}");
        logger.LogInformation(
            "expire{DryRun}: {Objects} objects, {Bytes} bytes {Verb} from {Chains} backup(s){Scope}; removed whole: [{Whole}]; recovery windows now: [{Windows}]",
            dryRun ? " (dry run)" : "", dryRun ? report.Objects : objects, dryRun ? report.Bytes : bytes, dryRun ? "would be deleted" : "deleted",
            planned.Count, clusterId is null ? "" : $" of cluster {clusterId}", string.Join(", ", whole), string.Join(", ", windows));
        return report;
    }

    /// <summary>
    /// The cluster's retention; a cluster no longer configured, or no longer backed up to <paramref name="location"/>,
    /// has only inactive backups there (the default <see cref="ClusterOptions.RetentionDays"/> if it is gone).
    /// </summary>
    private RetentionPolicy PolicyOf(string clusterId, string location)
    {
        var c = options.Clusters.FirstOrDefault(c => string.Equals(c.Id, clusterId, StringComparison.Ordinal));
        return c is null
            ? new RetentionPolicy(ClusterOptions.DefaultRetentionDays, 0, Configured: false)
            : new RetentionPolicy(c.RetentionDays, c.MinBaseBackups ?? 0, Configured: string.Equals(c.BackupLocation, location, StringComparison.Ordinal));
    }

    /// <summary>Human-readable bytes for the CLI.</summary>
    public static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.00} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
