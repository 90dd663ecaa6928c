using System.Diagnostics;
using System.Text.Json.Nodes;
using PgVault.Api.Actions;
using PgVault.Configuration;
using PgVault.Errors;
using PgVault.Fleet;

namespace PgVault.Hosting;

/// <summary>
/// The lease holder's side of the fleet's action queue: takes the actions other instances enqueued for the clusters
/// this instance backs up (woken by the catalog's notification, or every second at the latest), carries each out
/// through the same code as a request sent here (<see cref="BaseBackupActions.CarryOutAsync"/>,
/// <see cref="RestoreActions.CarryOutAsync"/>) and records its outcome for the instance that answers the client.
/// </summary>
public sealed class FleetActionService(IActionQueue queue, BackupEngine engine, BaseBackupActions backups, RestoreActions restores,
    PgVaultOptions options, ILogger<FleetActionService> logger) : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PruneInterval = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan KeepFor = TimeSpan.FromDays(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Engine.Enabled || engine.Fleet is not { } fleet)
            return;
        var running = new List<Task>();
        var sincePrune = Stopwatch.StartNew();
        var pruned = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var held = fleet.HeldLeases;
                if (held.Count > 0)
                {
                    foreach (var action in await queue.ClaimAsync(fleet.InstanceName, held, stoppingToken).ConfigureAwait(false))
                        running.Add(Task.Run(() => CarryOutAsync(action, fleet.InstanceName, stoppingToken), CancellationToken.None));
                }

                running.RemoveAll(t => t.IsCompleted);
                if (!pruned || sincePrune.Elapsed > PruneInterval)
                {
                    pruned = true;
                    sincePrune.Restart();
                    await queue.PruneAsync(KeepFor, stoppingToken).ConfigureAwait(false);
                }

                await queue.WaitForEnqueuedAsync(PollInterval, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                logger.LogWarning("fleet: the action queue could not be read: {Error}; trying again in {Seconds:0} s", ex.Message, PollInterval.TotalSeconds);
                try
                {
                    await Task.Delay(PollInterval, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

#pragma warning disable VSTHRD003 // this service's own tasks, each bounded by the action timeout
        await Task.WhenAll(running).ConfigureAwait(false);
#pragma warning restore VSTHRD003
    }

    /// <summary>Carries one claimed action out and records its outcome (an accepted result, or the refusal it met).</summary>
    private async Task CarryOutAsync(QueuedAction action, string instance, CancellationToken stopping)
    {
        var clock = Stopwatch.StartNew();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        limit.CancelAfter(options.Fleet.ActionTimeout); // the instance that enqueued it waits no longer than twice this for the answer
        JsonObject outcome;
        try
        {
            var payload = JsonNode.Parse(action.Payload)?.AsObject() ?? [];
            outcome = action.Kind switch
            {
                BaseBackupActions.Kind => await backups.CarryOutQueuedAsync(action.ClusterId, payload, limit.Token).ConfigureAwait(false),
                RestoreActions.Kind => await restores.CarryOutQueuedAsync(action.ClusterId, payload, limit.Token).ConfigureAwait(false),
                _ => ActionOutcomes.Encode(new PgVaultException(ErrorCode.Internal, $"action {action.Id} is of a kind this instance does not know: '{action.Kind}'",
                    "run the same PgVault version on every instance of the fleet")),
            };
        }
        catch (PgVaultException ex)
        {
            outcome = ActionOutcomes.Encode(ex);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            outcome = ActionOutcomes.Encode(new PgVaultException(ErrorCode.Unavailable,
                $"instance '{instance}' could not start the {action.Kind} of cluster '{action.ClusterId}' within {options.Fleet.ActionTimeout.TotalSeconds:0.#} s" +
                (stopping.IsCancellationRequested ? " (it is stopping)" : ""),
                $"check GET /clusters/{action.ClusterId} before sending it again"));
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "fleet: action {Action} ({Kind}) on cluster {Cluster} from instance {Origin} failed", action.Id, action.Kind, action.ClusterId,
                action.Origin);
            outcome = ActionOutcomes.Encode(new PgVaultException(ErrorCode.Internal,
                $"internal server error on instance '{instance}' carrying out action {action.Id}; it was logged there"));
        }

        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await queue.CompleteAsync(action.Id, instance, outcome.ToJsonString(), bound.Token).ConfigureAwait(false);
            logger.LogInformation("fleet: carried out action {Action} ({Kind}) on cluster {Cluster} (epoch {Epoch}) for instance {Origin}: {Result} in {Ms:0} ms",
                action.Id, action.Kind, action.ClusterId, action.Epoch, action.Origin, outcome["code"]?.GetValue<string>() ?? outcome["result"]?.GetValue<string>(),
                clock.Elapsed.TotalMilliseconds);
        }
        catch (Exception ex)
        {
            logger.LogWarning("fleet: could not record the outcome of action {Action} on cluster {Cluster}: {Error}; instance {Origin} answers 503",
                action.Id, action.ClusterId, ex.Message, action.Origin);
        }
    }
}
