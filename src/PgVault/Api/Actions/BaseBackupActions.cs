using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Errors;
using PgVault.Hosting;

namespace PgVault.Api.Actions;

/// <summary>
/// Starts a base backup of a cluster's active backup now (<c>POST /clusters/{clusterId}/backups</c>) and answers with it
/// once it is recorded RUNNING, so it can be followed by its label. The base backup outlives the request: it stops only
/// with the server.
/// </summary>
public sealed class BaseBackupActions(ICatalog catalog, BackupEngine engine, PgVaultOptions options, IHostApplicationLifetime lifetime)
{
    /// <summary>
    /// Starts the base backup. Not found: the cluster is unknown or not granted. Conflict: a base backup of it runs, or
    /// it is being restored. Throws (422) when this instance does not back the cluster up, and (503) when its WAL
    /// streaming has not connected yet.
    /// </summary>
    /// <param name="scope">The clusters the principal may see.</param>
    /// <param name="clusterId">The cluster, in canonical form.</param>
    /// <param name="ct">The request's cancellation.</param>
    /// <param name="type">The type asked for; null: the cluster's default (a typed full one unless <c>BaseBackupSchedule</c> is set).</param>
    public async Task<ActionResult<BaseBackupRecord>> StartAsync(ClusterScope scope, string clusterId, PgVault.Engine.Repository.BaseBackupType? type,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (!scope.Allows(clusterId) || await catalog.GetClusterAsync(clusterId, ct).ConfigureAwait(false) is null)
            return new ActionResult<BaseBackupRecord>.NotFound($"cluster '{clusterId}' not found");
        var worker = engine.Find(clusterId);
        if (worker is null || !options.Engine.Enabled)
        {
            throw new PgVaultException(ErrorCode.ValidationFailed, $"cluster '{clusterId}' is not backed up by this pgvault instance",
                "configure it under PgVault:Clusters and enable PgVault:Engine");
        }

        if (worker.Paused)
            return new ActionResult<BaseBackupRecord>.Conflict($"cluster '{clusterId}' is being restored (hint: retry when the restore has finished)");
        var started = await worker.StartBaseBackupAsync("requested through the API", type, lifetime.ApplicationStopping, ct).ConfigureAwait(false);
        if (started is null)
            return new ActionResult<BaseBackupRecord>.Conflict($"a base backup of cluster '{clusterId}' is already running");
        return new ActionResult<BaseBackupRecord>.Accepted(started);
    }
}
