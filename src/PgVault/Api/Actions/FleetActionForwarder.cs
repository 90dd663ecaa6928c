using System.Diagnostics;
using System.Text.Json.Nodes;
using PgVault.Configuration;
using PgVault.Errors;
using PgVault.Fleet;
using PgVault.Hosting;

namespace PgVault.Api.Actions;

/// <summary>
/// In a fleet, an action sent to an instance that does not back the cluster up is carried out by the one that does:
/// enqueued in the catalog (<see cref="IActionQueue"/>), taken by the lease holder (<see cref="FleetActionService"/>),
/// and answered here with the holder's outcome, so the client sees the status and bytes the holder would have sent.
/// Waits are bounded by <c>Fleet:ActionTimeout</c>: an action no instance takes by then is abandoned (never carried
/// out) and answered 503.
/// </summary>
public sealed class FleetActionForwarder(IActionQueue queue, ILeaseStore leases, BackupEngine engine, PgVaultOptions options,
    ILogger<FleetActionForwarder> logger)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>This instance's name in the fleet (the origin of what it enqueues).</summary>
    private string InstanceName => options.Fleet.EffectiveInstanceName;

    /// <summary>
    /// Whether an action on the cluster goes to another instance: the cluster is configured and this instance has no
    /// worker for it (another holds its lease, or this one only serves the API).
    /// </summary>
    public bool ShouldForward(string clusterId) =>
        engine.Find(clusterId) is null && options.Clusters.Any(c => string.Equals(c.Id, clusterId, StringComparison.Ordinal));

    /// <summary>
    /// Enqueues the action and waits for its outcome. Throws (503) when no instance takes it in time (it is then
    /// abandoned, never carried out), or when the instance that took it does not answer in time.
    /// </summary>
    /// <returns>The outcome, as <see cref="ActionOutcomes"/> encoded it on the instance that carried it out.</returns>
    public async Task<JsonObject> ForwardAsync(string clusterId, string kind, JsonObject payload, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(payload);
        var timeout = options.Fleet.ActionTimeout;
        var id = await queue.EnqueueAsync(clusterId, kind, payload.ToJsonString(), InstanceName, timeout, ct).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        var settled = false;
        try
        {
            while (true)
            {
                var status = await queue.GetAsync(id, ct).ConfigureAwait(false)
                             ?? throw new PgVaultException(ErrorCode.Internal, $"action {id} on cluster '{clusterId}' vanished from the fleet's queue");
                if (status is { State: QueuedActionState.Done, Outcome: { } outcome })
                {
                    settled = true;
                    logger.LogInformation("fleet: action {Action} ({Kind}) on cluster {Cluster} was carried out by instance {Owner} in {Ms:0} ms", id, kind,
                        clusterId, status.ClaimedBy, clock.Elapsed.TotalMilliseconds);
                    return JsonNode.Parse(outcome)!.AsObject();
                }

                if (status.State == QueuedActionState.Abandoned)
                {
                    settled = true;
                    throw NotTaken(clusterId, kind, timeout, await OwnerAsync(clusterId, ct).ConfigureAwait(false));
                }

                if (status.State == QueuedActionState.Pending && clock.Elapsed >= timeout)
                {
                    if (await queue.AbandonAsync(id, ct).ConfigureAwait(false))
                    {
                        settled = true;
                        logger.LogWarning("fleet: action {Action} ({Kind}) on cluster {Cluster} was not taken within {Seconds:0.#} s; abandoned", id, kind,
                            clusterId, timeout.TotalSeconds);
                        throw NotTaken(clusterId, kind, timeout, await OwnerAsync(clusterId, ct).ConfigureAwait(false));
                    }

                    continue; // taken at the last moment: its outcome follows
                }

                if (status.State == QueuedActionState.Claimed && clock.Elapsed >= 2 * timeout)
                {
                    settled = true;
                    throw new PgVaultException(ErrorCode.Unavailable,
                        $"instance '{status.ClaimedBy}' took the {kind} of cluster '{clusterId}' (action {id}) but did not answer within {timeout.TotalSeconds:0.#} s; " +
                        "it may have been carried out",
                        $"check GET /clusters/{clusterId} and its backups before sending it again");
                }

                await Task.Delay(PollInterval, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            if (!settled)
                await AbandonQuietlyAsync(id).ConfigureAwait(false);
        }
    }

    /// <summary>The client went away (or the catalog failed) while waiting: the action must not run later unseen.</summary>
    private async Task AbandonQuietlyAsync(Guid id)
    {
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await queue.AbandonAsync(id, limit.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            logger.LogWarning("fleet: could not abandon action {Action}: {Error}; it is never taken after its deadline anyway", id, ex.Message);
        }
    }

    private async Task<string?> OwnerAsync(string clusterId, CancellationToken ct) =>
        await leases.GetLeaseAsync(clusterId, ct).ConfigureAwait(false) is { Held: true, Owner: { } owner } ? owner : null;

    private PgVaultException NotTaken(string clusterId, string kind, TimeSpan timeout, string? owner) =>
        new(ErrorCode.Unavailable,
            $"no instance of the fleet took the {kind} of cluster '{clusterId}' within {timeout.TotalSeconds:0.#} s " +
            $"({(owner is null ? "no live instance holds its lease" : $"its lease is held by instance '{owner}'")}); it was not carried out and will not be; " +
            $"this is instance '{InstanceName}'",
            "retry in a few seconds (a takeover lasts up to the lease TTL); GET /fleet lists the instances");
}
