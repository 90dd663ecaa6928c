using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Hosting;

namespace PgVault.Api.Queries;

/// <summary>One base backup as the API lists it: the catalog's record and, from the repository, its keep flag and annotations.</summary>
public sealed record BaseBackupView(BaseBackupRecord Record, string Type, BaseBackupAnnotation? Annotation);

/// <summary>
/// The base backups of one backup (PgVault's <c>GET /clusters/backups/{backupId}/basebackups</c>): newest first, visible
/// exactly when the backup is (anything else is "not found"). The records come from the catalog; keep flags and annotations
/// from the repository (one listing of the chain's base backups, then only the annotated ones read).
/// </summary>
public sealed class BaseBackupListings(CatalogQueries queries, ICatalog catalog, LocationStores stores, PgVaultOptions options)
{
    public async Task<Page<BaseBackupView>> ListAsync(ClusterScope scope, string backupId, PageRequest page, CancellationToken ct)
    {
        var backup = await queries.GetBackupAsync(scope, backupId, ct).ConfigureAwait(false);
        var all = (await catalog.ListBaseBackupsAsync(backup.Id, ct).ConfigureAwait(false))
            .OrderByDescending(b => b.StartedAt).ThenBy(b => b.Label, StringComparer.Ordinal).ToList();
        var items = all.Skip(page.Offset).Take(page.Limit).ToList();
        var annotations = items.Count == 0 ? null : await AnnotationsAsync(backup, ct).ConfigureAwait(false);
        return new Page<BaseBackupView>([.. items.Select(b => View(b, annotations))], page.Offset, page.Limit, page.Offset + items.Count < all.Count);
    }

    public async Task<BaseBackupView> GetAsync(ClusterScope scope, string backupId, string label, CancellationToken ct)
    {
        var backup = await queries.GetBackupAsync(scope, backupId, ct).ConfigureAwait(false);
        var record = (await catalog.ListBaseBackupsAsync(backup.Id, ct).ConfigureAwait(false))
                     .FirstOrDefault(b => string.Equals(b.Label, label, StringComparison.Ordinal))
                     ?? throw new PgVaultException(ErrorCode.NotFound, $"base backup '{label}' of backup '{backupId}' not found");
        return View(record, await AnnotationsAsync(backup, ct).ConfigureAwait(false));
    }

    private static BaseBackupView View(BaseBackupRecord record, IReadOnlyDictionary<string, BaseBackupAnnotation>? annotations) =>
        new(record, record.Type, annotations?.GetValueOrDefault(record.Label));

    /// <summary>The chain's annotations by label; none for a backup whose location is no longer configured.</summary>
    private async Task<IReadOnlyDictionary<string, BaseBackupAnnotation>?> AnnotationsAsync(BackupRecord backup, CancellationToken ct)
    {
        if (!BackupId.TryParse(backup.Id, out var id) || !options.Locations.ContainsKey(backup.Location))
            return null;
        return await new ChainRepository(stores.Get(backup.Location), id.ClusterId, id.ChainId).ReadAnnotationsAsync(ct).ConfigureAwait(false);
    }
}
