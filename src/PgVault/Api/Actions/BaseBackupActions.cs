using System.Text.Json;
using System.Text.Json.Nodes;
using PgVault.Api.Contracts;
using PgVault.Catalog;
using PgVault.Configuration;
using PgVault.Engine.Repository;
using PgVault.Errors;
using PgVault.Hosting;

namespace PgVault.Api.Actions;

/// <summary>
/// Starts a base backup of a cluster's active backup now (<c>POST /clusters/{clusterId}/backups</c>) and answers with it
/// once it is recorded RUNNING, so it can be followed by its label. The base backup outlives the request: it stops only
/// with the server. In a fleet, a request for a cluster another instance backs up is carried out by that instance
/// (<see cref="FleetActionForwarder"/>).
/// </summary>
public sealed class BaseBackupActions(ICatalog catalog, BackupEngine engine, PgVaultOptions options, IHostApplicationLifetime lifetime,
    FleetActionForwarder? forwarder = null)
{
    /// <summary>The kind of this action in the fleet's queue.</summary>
    public const string Kind = "backup";

    /// <summary>
    /// Starts the base backup. Not found: the cluster is unknown or not granted. Conflict: a base backup of it runs, or
    /// it is being restored. Throws (422) when this instance does not back the cluster up, and (503) when its WAL
    /// streaming has not connected yet, or in a fleet when no instance took the request in time.
    /// </summary>
    /// <param name="scope">The clusters the principal may see.</param>
    /// <param name="clusterId">The cluster, in canonical form.</param>
    /// <param name="type">The type asked for; null: the cluster's default (a typed full one unless <c>BaseBackupSchedule</c> is set).</param>
    /// <param name="ct">The request's cancellation.</param>
    public async Task<ActionResult<BaseBackupResponse>> StartAsync(ClusterScope scope, string clusterId, BaseBackupType? type, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(scope);
        if (!scope.Allows(clusterId) || await catalog.GetClusterAsync(clusterId, ct).ConfigureAwait(false) is null)
            return new ActionResult<BaseBackupResponse>.NotFound($"cluster '{clusterId}' not found");
        if (forwarder is not null && forwarder.ShouldForward(clusterId))
        {
            var outcome = await forwarder.ForwardAsync(clusterId, Kind, new JsonObject { ["type"] = type?.Name() }, ct).ConfigureAwait(false);
            return ActionOutcomes.Decode(outcome, body => JsonSerializer.Deserialize(body ?? "null", ApiJsonContext.Api.BaseBackupResponse)
                                                          ?? throw new PgVaultException(ErrorCode.Internal, "a forwarded base backup came back without its body"));
        }

        return await CarryOutAsync(clusterId, type, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The part the instance backing the cluster up runs, for a request sent to it and for one taken from the fleet's
    /// queue alike (the cluster is known and granted).
    /// </summary>
    public async Task<ActionResult<BaseBackupResponse>> CarryOutAsync(string clusterId, BaseBackupType? type, CancellationToken ct)
    {
        await engine.RefuseIfNotOwnerAsync(clusterId, ct).ConfigureAwait(false);
        var worker = engine.Find(clusterId);
        if (worker is null || !options.Engine.Enabled)
        {
            throw new PgVaultException(ErrorCode.ValidationFailed, $"cluster '{clusterId}' is not backed up by this pgvault instance",
                "configure it under PgVault:Clusters and enable PgVault:Engine");
        }

        if (worker.Paused)
            return new ActionResult<BaseBackupResponse>.Conflict($"cluster '{clusterId}' is being restored (hint: retry when the restore has finished)");
        var started = await worker.StartBaseBackupAsync("requested through the API", type, lifetime.ApplicationStopping, ct).ConfigureAwait(false);
        if (started is null)
            return new ActionResult<BaseBackupResponse>.Conflict($"a base backup of cluster '{clusterId}' is already running");
        return new ActionResult<BaseBackupResponse>.Accepted(ContractMapper.ToResponse(started, started.Type, keep: false, annotations: null));
    }

    /// <summary>Carries out a request taken from the fleet's queue; returns its encoded outcome (refusals are thrown).</summary>
    public async Task<JsonObject> CarryOutQueuedAsync(string clusterId, JsonObject payload, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(payload);
        var type = BaseBackupTypes.Parse(payload["type"]?.GetValue<string>());
        var result = await CarryOutAsync(clusterId, type, ct).ConfigureAwait(false);
        return ActionOutcomes.Encode(result, r => JsonSerializer.Serialize(r, ApiJsonContext.Api.BaseBackupResponse));
    }
}
