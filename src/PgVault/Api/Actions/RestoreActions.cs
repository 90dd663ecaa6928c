using System.Globalization;
using System.Text.Json.Nodes;
using PgVault.Catalog;
using PgVault.Engine.Restore;

namespace PgVault.Api.Actions;

/// <summary>A checked in-place restore request: the backup, and the target (the backup's latest point when null).</summary>
public sealed record RestoreRequest(string BackupId, DateTimeOffset? TargetTime);

/// <summary>
/// Starts an in-place restore of a cluster (<c>POST /clusters/{clusterId}/restore</c>): checks everything that can be
/// refused, then runs the restore in the background (it outlives the request; it stops only with the server). In a
/// fleet, a request for a cluster another instance backs up is carried out by that instance
/// (<see cref="FleetActionForwarder"/>).
/// </summary>
public sealed class RestoreActions(ICatalog catalog, InPlaceRestores restores, PgVault.Hosting.BackupEngine engine, IHostApplicationLifetime lifetime,
    FleetActionForwarder? forwarder = null)
{
    /// <summary>The kind of this action in the fleet's queue.</summary>
    public const string Kind = "restore";

    /// <summary>
    /// Starts the restore. Not found: the cluster or the backup is unknown or not granted. Throws the refusals of
    /// <see cref="InPlaceRestores.PrepareAsync"/> (422 outside the recovery window or without a data directory, 409 while
    /// a restore of the cluster runs), and in a fleet 503 when no instance took the request in time.
    /// </summary>
    /// <param name="scope">The clusters the principal may see.</param>
    /// <param name="clusterId">The cluster, in canonical form.</param>
    /// <param name="readRequest">
    /// Reads and checks the request body; called once the cluster is known, so an unknown cluster is "not found" whatever
    /// the body.
    /// </param>
    /// <param name="ct">The request's cancellation.</param>
    /// <returns>When accepted, the request as accepted.</returns>
    public async Task<ActionResult<RestoreRequest>> StartAsync(ClusterScope scope, string clusterId,
        Func<CancellationToken, Task<RestoreRequest>> readRequest, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(readRequest);
        if (!scope.Allows(clusterId) || await catalog.GetClusterAsync(clusterId, ct).ConfigureAwait(false) is null)
            return new ActionResult<RestoreRequest>.NotFound($"cluster '{clusterId}' not found");
        var request = await readRequest(ct).ConfigureAwait(false);
        var backup = await catalog.GetBackupAsync(request.BackupId, ct).ConfigureAwait(false);
        if (backup is null || !scope.Allows(backup.ClusterId))
            return new ActionResult<RestoreRequest>.NotFound($"backup '{request.BackupId}' not found");

        if (forwarder is not null && forwarder.ShouldForward(clusterId))
        {
            var payload = new JsonObject
            {
                ["backupId"] = request.BackupId,
                ["targetTime"] = request.TargetTime?.ToString("O", CultureInfo.InvariantCulture),
            };
            var outcome = await forwarder.ForwardAsync(clusterId, Kind, payload, ct).ConfigureAwait(false);
            return ActionOutcomes.Decode(outcome, _ => request);
        }

        return await CarryOutAsync(clusterId, request, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The part the instance backing the cluster up runs, for a request sent to it and for one taken from the fleet's
    /// queue alike (the cluster and the backup are known and granted).
    /// </summary>
    public async Task<ActionResult<RestoreRequest>> CarryOutAsync(string clusterId, RestoreRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        await engine.RefuseIfNotOwnerAsync(clusterId, ct).ConfigureAwait(false);
        var prepared = await restores.PrepareAsync(clusterId, request.BackupId, request.TargetTime, ct).ConfigureAwait(false);
        restores.Start(prepared, lifetime.ApplicationStopping);
        return new ActionResult<RestoreRequest>.Accepted(request);
    }

    /// <summary>Carries out a request taken from the fleet's queue; returns its encoded outcome (refusals are thrown).</summary>
    public async Task<JsonObject> CarryOutQueuedAsync(string clusterId, JsonObject payload, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(payload);
        var target = payload["targetTime"]?.GetValue<string>();
        var request = new RestoreRequest(payload["backupId"]?.GetValue<string>() ?? "",
            target is null ? null : DateTimeOffset.Parse(target, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind));
        var result = await CarryOutAsync(clusterId, request, ct).ConfigureAwait(false);
        return ActionOutcomes.Encode(result, _ => null);
    }
}
