using Microsoft.Extensions.Logging;
using PgVault.Catalog;
using PgVault.Engine.Chains;
using PgVault.Engine.Repository;
using PgVault.Postgres;
using PgVault.Storage;

namespace PgVault.Engine.Retention;

/// <summary>How expiry works alongside a running engine (<c>serve</c>); the CLI runs without one.</summary>
public interface IExpiryCoordinator
{
    /// <summary>Runs <paramref name="action"/> while no base backup of the cluster runs (and none starts).</summary>
    Task RunExclusiveAsync(string clusterId, Func<CancellationToken, Task> action, CancellationToken ct);

    /// <summary>
    /// Tells the engine that expiry moved the WAL start of backup <paramref name="backupId"/> and deleted
    /// <paramref name="walBytesRemoved"/> bytes of its WAL (its base backups' catalog rows are gone already); true when
    /// the engine owns that backup's catalog row (the active one of a running worker) and refreshed it.
    /// </summary>
    Task<bool> OnExpiredAsync(string clusterId, string backupId, Lsn? walStart, long walBytesRemoved, CancellationToken ct);

    /// <summary>
    /// Throws when this instance may no longer change the cluster's backups (in a fleet: another instance took the
    /// cluster's lease). Called before every deletion and catalog change. Default: always allowed.
    /// </summary>
    Task EnsureOwnedAsync(string clusterId, CancellationToken ct) => Task.CompletedTask;
}

/// <summary>What one chain's expiry did.</summary>
public sealed record ChainExpiryResult(ChainExpiryPlan Plan, int ObjectsDeleted, long BytesDeleted);

/// <summary>
/// Performs a <see cref="ChainExpiryPlan"/> in an order that keeps the repository restorable whenever it stops:
/// a base backup loses its catalog row, then its completion marker (from then on it is incomplete and never restorable),
/// then its data, then its metadata; WAL goes only after every base backup that needed it, and after
/// <c>expiry.json</c> records the new WAL start. A whole chain is DESTROYING in the catalog, loses <c>chain.json</c>
/// first (nothing reads it again; <c>catalog rebuild</c> ignores it), then everything else; the catalog row goes last.
/// Running a plan computed again after an interruption finishes the job.
/// </summary>
public sealed class ExpiryExecutor(IObjectStore store, ICatalog catalog, TimeProvider time, ILogger logger)
{
    private const int WalBatch = 256;

    public async Task<ChainExpiryResult> ExecuteAsync(ChainExpiryPlan plan, IExpiryCoordinator? coordinator, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var objects = 0;
        long bytes = 0;
        async Task DeleteAsync(IReadOnlyCollection<ObjectInfo> batch)
        {
            if (batch.Count == 0)
                return;
            if (coordinator is not null)
                await coordinator.EnsureOwnedAsync(plan.Chain.ClusterId, ct).ConfigureAwait(false);
            await store.DeleteAsync([.. batch.Select(o => o.Key)], ct).ConfigureAwait(false);
            objects += batch.Count;
            bytes += batch.Sum(o => o.SizeBytes);
        }

        var chain = plan.Chain;
        var backupId = plan.BackupId ?? await FindBackupIdAsync(chain, ct).ConfigureAwait(false);
        if (coordinator is not null)
            await coordinator.EnsureOwnedAsync(chain.ClusterId, ct).ConfigureAwait(false);
        if (plan.Whole)
        {
            if (backupId is not null && await catalog.GetBackupAsync(backupId, ct).ConfigureAwait(false) is { } row)
                await catalog.SaveBackupsAsync([row with { State = BackupState.Destroying }], ct).ConfigureAwait(false);
            var chainJson = plan.Other.Where(o => RepositoryKey.TryParse(o.Key, out var k) && k.Kind == RepositoryObjectKind.ChainMetadata).ToList();
            await DeleteAsync(chainJson).ConfigureAwait(false);
            await DeleteBaseBackupsAsync(plan, backupId, DeleteAsync, ct).ConfigureAwait(false);
            foreach (var batch in plan.Wal.Chunk(WalBatch))
                await DeleteAsync(batch).ConfigureAwait(false);
            await DeleteAsync(plan.Other.Except(chainJson).ToList()).ConfigureAwait(false);
            if (backupId is not null)
                await catalog.DeleteBackupAsync(backupId, ct).ConfigureAwait(false);
            return new ChainExpiryResult(plan, objects, bytes);
        }

        await DeleteBaseBackupsAsync(plan, backupId, DeleteAsync, ct).ConfigureAwait(false);
        if (plan.NewWalStart is { } walStart)
        {
            var expiry = new ExpiryMetadata { WalStartLsn = walStart.ToString(), ExpiredAt = time.GetUtcNow() };
            await new ChainRepository(store, chain.ClusterId, chain.ChainId).WriteExpiryAsync(expiry, ct).ConfigureAwait(false);
        }

        foreach (var batch in plan.Wal.Chunk(WalBatch))
            await DeleteAsync(batch).ConfigureAwait(false);

        if (backupId is not null && !plan.IsEmpty)
            await RefreshRowAsync(plan, backupId, coordinator, ct).ConfigureAwait(false);
        return new ChainExpiryResult(plan, objects, bytes);
    }

    /// <summary>Catalog rows of base backups that failed without leaving anything in the repository, older than the grace period.</summary>
    public async Task<int> DeleteStaleFailedRowsAsync(ScannedChain chain, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(chain);
        if (chain.Metadata is null)
            return 0;
        var inRepository = chain.BaseBackups.Select(b => b.Label).ToHashSet(StringComparer.Ordinal);
        var deleted = 0;
        foreach (var b in await catalog.ListBaseBackupsAsync(chain.Metadata.BackupId, ct).ConfigureAwait(false))
        {
            if (b.State == BaseBackupState.Failed && !inRepository.Contains(b.Label) && time.GetUtcNow() - b.StartedAt > RetentionPolicy.IncompleteGrace
                && await catalog.DeleteBaseBackupAsync(b.BackupId, b.Label, ct).ConfigureAwait(false))
                deleted++;
        }

        return deleted;
    }

    private async Task DeleteBaseBackupsAsync(ChainExpiryPlan plan, string? backupId, Func<IReadOnlyCollection<ObjectInfo>, Task> delete,
        CancellationToken ct)
    {
        foreach (var b in plan.BaseBackups)
        {
            if (backupId is not null)
                await catalog.DeleteBaseBackupAsync(backupId, b.Label, ct).ConfigureAwait(false);
            var marker = b.Objects.Where(o => Is(o, RepositoryObjectKind.BaseBackupMarker)).ToList();
            var metadata = b.Objects.Where(o => Is(o, RepositoryObjectKind.BaseBackupMetadata)).ToList();
            await delete(marker).ConfigureAwait(false);
            await delete(b.Objects.Except(marker).Except(metadata).ToList()).ConfigureAwait(false);
            await delete(metadata).ConfigureAwait(false);
            logger.LogDebug("expire: deleted base backup {Label} of {Backup}: {Reason}", b.Label, backupId, b.Reason);
        }
    }

    private static bool Is(ObjectInfo o, RepositoryObjectKind kind) => RepositoryKey.TryParse(o.Key, out var k) && k.Kind == kind;

    /// <summary>The backup's new WAL start, size and recovery window, through the running engine when it owns the row.</summary>
    private async Task RefreshRowAsync(ChainExpiryPlan plan, string backupId, IExpiryCoordinator? coordinator, CancellationToken ct)
    {
        if (coordinator is not null
            && await coordinator.OnExpiredAsync(plan.Chain.ClusterId, backupId, plan.NewWalStart, plan.Wal.Sum(w => w.SizeBytes), ct).ConfigureAwait(false))
            return;
        if (await catalog.GetBackupAsync(backupId, ct).ConfigureAwait(false) is not { } row)
            return;
        var bases = await catalog.ListBaseBackupsAsync(backupId, ct).ConfigureAwait(false);
        var walStart = plan.NewWalStart is { } s && s.Value > (row.StartLsn ?? 0) ? s.Value : row.StartLsn;
        var (_, earliest) = ChainStateCalculator.Compute(bases, new WalStatus(row.EndLsn ?? 0, true, null, walStart ?? 0), time.GetUtcNow(),
            TimeSpan.MaxValue);
        await catalog.SaveBackupsAsync([row with
        {
            StartLsn = walStart,
            SizeBytes = Math.Max(0, row.SizeBytes - plan.SizeBytesRemoved),
            EarliestRecoveryTargetTime = earliest,
        }], ct).ConfigureAwait(false);
    }

    /// <summary>The catalog row of a chain that lost its chain.json (an interrupted whole expiry): found by its chain id.</summary>
    private async Task<string?> FindBackupIdAsync(ScannedChain chain, CancellationToken ct)
    {
        for (var offset = 0; ; offset += PageRequest.MaxLimit)
        {
            var page = await catalog.ListBackupsAsync(ClusterScope.Only([chain.ClusterId]), new PageRequest(offset, PageRequest.MaxLimit), ct)
                .ConfigureAwait(false);
            if (page.Items.FirstOrDefault(b => BackupId.IsOfChain(b.Id, chain.ClusterId, chain.ChainId)) is { } found)
                return found.Id;
            if (!page.HasMore)
                return null;
        }
    }
}
