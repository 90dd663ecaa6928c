namespace PgVault.Fleet;

/// <summary>One instance of the fleet as the catalog knows it.</summary>
/// <param name="Name">The instance's name (<c>Fleet:InstanceName</c>).</param>
/// <param name="Host">The host it runs on.</param>
/// <param name="ProcessId">Its process id there.</param>
/// <param name="StartedAt">When it first registered.</param>
/// <param name="HeartbeatAge">How long ago its last heartbeat was, by the catalog's clock.</param>
public sealed record FleetInstance(string Name, string Host, int ProcessId, DateTimeOffset StartedAt, TimeSpan HeartbeatAge);

/// <summary>One cluster's lease.</summary>
/// <param name="ClusterId">The cluster.</param>
/// <param name="Owner">The instance holding it, or null when released.</param>
/// <param name="Epoch">Raised at every acquisition: the fencing token.</param>
/// <param name="Remaining">Time left before it expires, by the catalog's clock (zero or less: expired).</param>
public sealed record ClusterLease(string ClusterId, string? Owner, long Epoch, TimeSpan Remaining)
{
    /// <summary>True when an instance holds it and it has not expired.</summary>
    public bool Held => Owner is not null && Remaining > TimeSpan.Zero;
}

/// <summary>
/// Membership and leases of a fleet, kept in the shared PostgreSQL catalog. Every time is the catalog server's clock, so
/// instances never compare their own clocks. Every method is one short statement (or batch), safe to call concurrently
/// from several instances; the conditional updates are what decide who holds a lease.
/// </summary>
public interface ILeaseStore
{
    /// <summary>
    /// Registers <paramref name="instance"/> or refreshes its heartbeat, forgets instances silent for ten TTLs, and returns
    /// the live instances (a heartbeat younger than <paramref name="ttl"/>), this one included, ordered by name.
    /// </summary>
    Task<IReadOnlyList<FleetInstance>> HeartbeatAsync(FleetInstance instance, TimeSpan ttl, CancellationToken ct);

    /// <summary>Every registered instance, live or not, ordered by name.</summary>
    Task<IReadOnlyList<FleetInstance>> ListInstancesAsync(CancellationToken ct);

    /// <summary>Removes the instance's registration (a clean stop).</summary>
    Task LeaveAsync(string instance, CancellationToken ct);

    /// <summary>Every lease, ordered by cluster id.</summary>
    Task<IReadOnlyList<ClusterLease>> ListLeasesAsync(CancellationToken ct);

    /// <summary>One cluster's lease, or null when none was ever taken.</summary>
    Task<ClusterLease?> GetLeaseAsync(string clusterId, CancellationToken ct);

    /// <summary>
    /// Takes the cluster's lease for <paramref name="ttl"/> when it is free (never taken, released, or expired), raising
    /// its epoch; returns the new epoch, or null when it is held (by anyone, this instance included).
    /// </summary>
    Task<long?> TryAcquireAsync(string clusterId, string instance, TimeSpan ttl, CancellationToken ct);

    /// <summary>
    /// Extends the leases <paramref name="instance"/> holds with these epochs by <paramref name="ttl"/>; returns the
    /// cluster ids renewed. A lease not renewed is lost: expired, or taken with a newer epoch.
    /// </summary>
    Task<IReadOnlySet<string>> RenewAsync(string instance, IReadOnlyDictionary<string, long> held, TimeSpan ttl, CancellationToken ct);

    /// <summary>Gives the lease up (when still held with this epoch), so another instance takes it at once.</summary>
    Task ReleaseAsync(string clusterId, string instance, long epoch, CancellationToken ct);
}
