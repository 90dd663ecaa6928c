using System.Globalization;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Repository;
using PgVault.Storage;

namespace PgVault.Engine.Chains;

/// <summary>
/// Rebuilds the catalog from the repositories alone: one backup row per chain (the newest chain of each cluster is the
/// active one), and its base backups; rows the repositories no longer hold are removed. States assume WAL streaming is
/// healthy; a running engine corrects them on its next step.
/// </summary>
public static class CatalogRebuilder
{
    public sealed record Result(int Backups, int BaseBackups, int Removed);

    public static async Task<Result> RebuildAsync(ICatalog catalog, IReadOnlyDictionary<string, IObjectStore> locations, PgVaultOptions options,
        TimeProvider time, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(locations);
        ArgumentNullException.ThrowIfNull(options);
        var now = time.GetUtcNow();
        var found = new List<(ScannedChain Chain, string Location)>();
        foreach (var (name, store) in locations)
        {
            foreach (var chain in await RepositoryScanner.ScanAsync(store, null, ct).ConfigureAwait(false))
            {
                if (chain.Metadata is not null)
                    found.Add((chain, name));
            }
        }

        var active = found.GroupBy(f => f.Chain.ClusterId, StringComparer.Ordinal)
            .Select(g => g.MaxBy(f => f.Chain.Metadata!.CreatedAt).Chain.Metadata!.BackupId)
            .ToHashSet(StringComparer.Ordinal);

        var keep = new HashSet<string>(StringComparer.Ordinal);
        var baseCount = 0;
        foreach (var (chain, location) in found)
        {
            var m = chain.Metadata!;
            var bases = chain.BaseBackups.Select(b => ToRecord(m.BackupId, b)).ToList();
            var end = chain.DurableEnd;
            var (state, earliest) = ChainStateCalculator.Compute(bases, new WalStatus(end.Value, Streaming: true, InterruptedSince: null, chain.WalStart.Value), now, TimeSpan.MaxValue);
            var record = new BackupRecord
            {
                Id = m.BackupId,
                ClusterId = m.ClusterId,
                CreatedDate = m.CreatedAt,
                State = state,
                Version = m.PostgresMajor,
                IsActive = active.Contains(m.BackupId),
                EarliestRecoveryTargetTime = earliest,
                SizeBytes = chain.WalStoredBytes + chain.BaseBackups.Where(b => b.Complete).Sum(b => b.StoredBytes),
                Location = location,
                SystemIdentifier = m.SystemIdentifier,
                Timeline = (int)chain.Timeline,
                StartLsn = chain.WalStart.Value,
                EndLsn = end.Value,
            };
            await catalog.SaveBackupsAsync([record], ct).ConfigureAwait(false);
            foreach (var b in bases)
                await catalog.SaveBaseBackupAsync(b, ct).ConfigureAwait(false);
            baseCount += bases.Count;
            keep.Add(m.BackupId);
        }

        // Remove what the repositories no longer hold.
        var stale = new List<string>();
        for (var offset = 0; ; offset += PageRequest.MaxLimit)
        {
            var page = await catalog.ListBackupsAsync(ClusterScope.All, new PageRequest(offset, PageRequest.MaxLimit), ct).ConfigureAwait(false);
            stale.AddRange(page.Items.Where(b => !keep.Contains(b.Id)).Select(b => b.Id));
            if (!page.HasMore)
                break;
        }

        foreach (var id in stale)
            await catalog.DeleteBackupAsync(id, ct).ConfigureAwait(false);
        return new Result(found.Count, baseCount, stale.Count);
    }

    internal static BaseBackupRecord ToRecord(string backupId, ScannedBaseBackup b)
    {
        if (b is { Complete: true, Metadata: { } m })
        {
            return new BaseBackupRecord
            {
                BackupId = backupId,
                Label = b.Label,
                State = BaseBackupState.Complete,
                Timeline = (int)m.Timeline,
                StartLsn = PgVault.Postgres.Lsn.Parse(m.StartLsn).Value,
                EndLsn = PgVault.Postgres.Lsn.Parse(m.EndLsn).Value,
                StartedAt = m.StartedAt,
                CompletedAt = m.CompletedAt,
                SizeBytes = b.StoredBytes,
                DatabaseBytes = m.DatabaseBytes,
                Type = m.Type.Name(),
            };
        }

        var started = DateTimeOffset.TryParseExact(b.Label, "yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : DateTimeOffset.UnixEpoch;
        return new BaseBackupRecord
        {
            BackupId = backupId,
            Label = b.Label,
            State = BaseBackupState.Failed,
            Timeline = 1,
            StartedAt = started,
            Type = b.Metadata?.Type.Name() ?? BaseBackupRecord.FullType,
            Error = "incomplete in the repository (no completion marker)",
        };
    }
}
