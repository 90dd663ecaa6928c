namespace PgVault.Fleet;

/// <summary>Where a queued action stands.</summary>
public enum QueuedActionState
{
    /// <summary>Enqueued; no instance has taken it yet.</summary>
    Pending,

    /// <summary>Taken by the instance holding the cluster's lease, which is carrying it out.</summary>
    Claimed,

    /// <summary>Carried out (accepted or refused): its outcome is recorded.</summary>
    Done,

    /// <summary>Given up by the instance that enqueued it, or not taken in time: it is never carried out.</summary>
    Abandoned,
}

/// <summary>An action taken from the queue by the instance that carries it out.</summary>
/// <param name="Id">The action's id.</param>
/// <param name="ClusterId">The cluster it acts on.</param>
/// <param name="Kind">What it is (<c>backup</c>, <c>restore</c>).</param>
/// <param name="Payload">Its arguments, as the instance that enqueued it wrote them (opaque to the queue).</param>
/// <param name="Origin">The instance that enqueued it (and waits for its outcome).</param>
/// <param name="Epoch">The epoch of the lease under which it was claimed.</param>
public sealed record QueuedAction(Guid Id, string ClusterId, string Kind, string Payload, string Origin, long Epoch);

/// <summary>An action as the instance that enqueued it sees it.</summary>
/// <param name="Id">The action's id.</param>
/// <param name="State">Where it stands.</param>
/// <param name="ClaimedBy">The instance that took it, or null.</param>
/// <param name="Outcome">Its outcome once <see cref="QueuedActionState.Done"/> (opaque to the queue), else null.</param>
public sealed record QueuedActionStatus(Guid Id, QueuedActionState State, string? ClaimedBy, string? Outcome);

/// <summary>
/// The fleet's action queue in the shared PostgreSQL catalog: an action sent to an instance that does not hold the
/// cluster's lease is enqueued there, taken by the lease holder, carried out once and its outcome recorded for the
/// instance that waits for it. Every transition is one conditional statement, so concurrent instances never both win:
/// an action is claimed at most once, and never once it was abandoned or its claim deadline passed. Times are the
/// catalog server's clock.
/// </summary>
public interface IActionQueue
{
    /// <summary>
    /// Enqueues an action and wakes the instances waiting in <see cref="WaitForEnqueuedAsync"/>. It can be claimed for
    /// <paramref name="claimWithin"/>; after that it never is.
    /// </summary>
    /// <returns>The new action's id.</returns>
    Task<Guid> EnqueueAsync(string clusterId, string kind, string payload, string origin, TimeSpan claimWithin, CancellationToken ct);

    /// <summary>
    /// Claims the pending actions (within their deadline) on the clusters whose lease <paramref name="instance"/> holds
    /// with the epochs of <paramref name="held"/> (checked against the catalog's leases in the same statement), oldest
    /// first. An action claimed here is claimed by no other call, concurrent ones included.
    /// </summary>
    Task<IReadOnlyList<QueuedAction>> ClaimAsync(string instance, IReadOnlyDictionary<string, long> held, CancellationToken ct);

    /// <summary>Records the outcome of an action <paramref name="instance"/> claimed; false when it did not claim it.</summary>
    Task<bool> CompleteAsync(Guid id, string instance, string outcome, CancellationToken ct);

    /// <summary>The action's state, or null when there is no such action.</summary>
    Task<QueuedActionStatus?> GetAsync(Guid id, CancellationToken ct);

    /// <summary>
    /// Abandons the action if it is still pending (it is then never carried out); false when an instance claimed it
    /// first (or it was done or abandoned already).
    /// </summary>
    Task<bool> AbandonAsync(Guid id, CancellationToken ct);

    /// <summary>
    /// Returns when an action may have been enqueued (a notification from the catalog), or after <paramref name="max"/>:
    /// callers claim after it returns, whatever woke them. Never throws for a catalog out of reach (it waits instead);
    /// throws only when <paramref name="ct"/> is cancelled.
    /// </summary>
    Task WaitForEnqueuedAsync(TimeSpan max, CancellationToken ct);

    /// <summary>Forgets the actions enqueued longer than <paramref name="olderThan"/> ago and no longer pending or claimed; returns how many.</summary>
    Task<int> PruneAsync(TimeSpan olderThan, CancellationToken ct);
}
