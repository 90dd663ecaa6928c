using PgVault.Catalog;
using PgVault.Engine.Restore;

namespace PgVault.Api.Actions;

/// <summary>A checked in-place restore request: the backup, and the target (the backup's latest point when null).</summary>
public sealed record RestoreRequest(string BackupId, DateTimeOffset? TargetTime);

/// <summary>
/// Starts an in-place restore of a cluster (<c>POST /clusters/{clusterId}/restore</c>): checks everything that can be
/// refused, then runs the restore in the background (it outlives the request; it stops only with the server).
/// </summary>
public sealed class RestoreActions(ICatalog catalog, InPlaceRestores restores, PgVault.Hosting.BackupEngine engine, IHostApplicationLifetime lifetime)
{
    /// <summary>
    /// Starts the restore. Not found: the cluster or the backup is unknown or not granted. Throws the refusals of
    /// <see cref="InPlaceRestores.PrepareAsync"/> (422 outside the recovery window or without a data directory, 409 while
    /// a restore of the cluster runs).
    /// </summary>
    /// <param name="scope">The clusters the principal may see.</param>
    /// <param name="clusterId">The cluster, in canonical form.</param>
    /// <param name="readRequest">
    /// Reads and checks the request body; called once the cluster is known, so an unknown cluster is "not found" whatever
    /// the body.
    /// </param>
    /// <param name="ct">The request's cancellation.</param>
    public async Task<ActionResult<InPlaceRestore>> StartAsync(ClusterScope scope, string clusterId,
        Func<CancellationToken, Task<RestoreRequest>> readRequest, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(readRequest);
        if (!scope.Allows(clusterId) || await catalog.GetClusterAsync(clusterId, ct).ConfigureAwait(false) is null)
            return new ActionResult<InPlaceRestore>.NotFound($"cluster '{clusterId}' not found");
        var request = await readRequest(ct).ConfigureAwait(false);
        var backup = await catalog.GetBackupAsync(request.BackupId, ct).ConfigureAwait(false);
        if (backup is null || !scope.Allows(backup.ClusterId))
            return new ActionResult<InPlaceRestore>.NotFound($"backup '{request.BackupId}' not found");

        await engine.RefuseIfNotOwnerAsync(clusterId, ct).ConfigureAwait(false);
        var prepared = await restores.PrepareAsync(clusterId, request.BackupId, request.TargetTime, ct).ConfigureAwait(false);
        restores.Start(prepared, lifetime.ApplicationStopping);
        return new ActionResult<InPlaceRestore>.Accepted(prepared);
    }
}
